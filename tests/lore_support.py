"""Building lorebook entries and running World Info scans in tests, without a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bostonia.lore.activation import ScanContext, ScanResult, scan
from bostonia.lore.compiled import CompiledEntry, compile_book
from bostonia.lore.editing import new_entry
from bostonia.lore.schemas import EntryFields, Lorebook, LoreEntry, LoreSettings
from bostonia.lore.timed import EntryState


def entry(id: str, **fields: Any) -> LoreEntry:
    """An entry with SillyTavern's defaults for new entries (selective, AND ANY, order 100), then `fields`."""
    made = new_entry(EntryFields(**fields))
    made.id = id
    return made


def compiled(
    entries: Sequence[LoreEntry], settings: LoreSettings | None = None, *, source: str = "character", **book: Any
) -> list[CompiledEntry]:
    book.setdefault("recursive_scanning", True)
    lorebook = Lorebook(id=book.pop("id", "book"), name=book.pop("name", "Book"), entries=list(entries), **book)
    out = compile_book(lorebook, source, settings or LoreSettings(), "Sage", "Ren")
    return sorted(out, key=lambda e: -e.order)


def run(
    entries: Sequence[LoreEntry] | Sequence[CompiledEntry],
    messages: Sequence[str],
    settings: LoreSettings | None = None,
    *,
    state: Sequence[EntryState] = (),
    chat_length: int | None = None,
    seed: str = "chat|1",
    context_tokens: int = 8192,
    **ctx: Any,
) -> ScanResult:
    """Scan `messages` (oldest first)."""
    settings = settings or LoreSettings()
    prepared = [e for e in entries if isinstance(e, CompiledEntry)] or compiled(entries, settings)  # type: ignore[arg-type]
    return scan(
        prepared,
        ScanContext(
            messages=list(messages)[::-1],
            settings=settings,
            chat_length=len(messages) if chat_length is None else chat_length,
            assistant_messages=ctx.pop("assistant_messages", len(messages) // 2),
            seed=seed,
            context_tokens=context_tokens,
            state=state,
            **ctx,
        ),
    )


def ids(result: ScanResult) -> list[str]:
    return [e.id for e, _ in result.activated]


def why(result: ScanResult, entry_id: str) -> str:
    return next(w.why for e, w in result.activated if e.id == entry_id)
