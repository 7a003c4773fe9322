"""The World Info token budget: how much of the prompt activated lore may take.

The budget is a share of the model's context (`budget_percent`, SillyTavern's "Context %"), capped by an
absolute number of tokens (`budget_cap`) when one is set. Entries are admitted in activation order —
sticky entries first, then the sorted book order (chat lore, persona lore, then character and global lore
by the insertion strategy; within each, highest `insertion_order` first) — and scan steps in turn, so
directly matched entries come before those pulled in by recursion. As in SillyTavern, the first entry
that would reach the budget stops admission (and recursion) for the rest of the scan; only entries marked
`ignore_budget` still go in after that. A book's own
`token_budget` additionally caps that book's entries: one over it is left out and admission goes on.
"""

from __future__ import annotations

from collections.abc import Iterable

from bostonia.lore.compiled import CompiledEntry


class Budget:
    def __init__(self, context_tokens: int, percent: int, cap: int) -> None:
        budget = max(1, round(percent * context_tokens / 100))
        self.limit = min(budget, cap) if cap > 0 else budget
        self.used = 0
        self.per_book: dict[str, int] = {}
        self.overflowed = False

    def admit(self, entry: CompiledEntry) -> str | None:
        """None if the entry fits (and is counted), else why it was left out."""
        if entry.ignore_budget:
            return None
        if self.overflowed:
            return f"the World Info budget of {self.limit} tokens was already full"
        if entry.book_budget is not None:
            spent = self.per_book.get(entry.book_id, 0)
            if spent + entry.tokens > entry.book_budget:
                return f"over its book's budget of {entry.book_budget} tokens"
        if self.used + entry.tokens >= self.limit:
            self.overflowed = True
            return f"over the World Info budget of {self.limit} tokens"
        self.used += entry.tokens
        self.per_book[entry.book_id] = self.per_book.get(entry.book_id, 0) + entry.tokens
        return None

    def most(self, entries: Iterable[CompiledEntry]) -> int:
        """The most tokens a scan could admit from `entries`: the budget, or less when all of them together
        (each book within its own budget) take less; `ignore_budget` entries on top. The prompt keeps this
        much room for lore, so how much fires from turn to turn never moves where the kept history starts."""
        per_book: dict[str, int] = {}
        book_limits: dict[str, int] = {}
        unbounded = 0
        for entry in entries:
            if not entry.enabled or not entry.content:
                continue
            if entry.ignore_budget:
                unbounded += entry.tokens
                continue
            per_book[entry.book_id] = per_book.get(entry.book_id, 0) + entry.tokens
            if entry.book_budget is not None:
                book_limits[entry.book_id] = entry.book_budget
        bounded = sum(min(total, book_limits.get(book, total)) for book, total in per_book.items())
        return min(self.limit, bounded) + unbounded
