"""Lore activation for the chat prompt: a character's lorebook (its card's `character_book`) contributes the
entries whose keys appear in the latest messages.

This is the core of SillyTavern's World Info, chosen for the KV cache: every activated entry goes in at a
fixed depth from the end of the history (an entry's own `@depth` when it has one), never into the system
prompt, so lore that comes and goes invalidates only the last few messages instead of the whole prompt.
Keys match case-insensitively (or as the entry says), as whole words when asked, or as `/regex/flags`;
selective entries apply their secondary-key logic; constant entries are always in; the book's token
budget keeps the highest-order entries. Recursion, inclusion groups, timed effects (sticky, cooldown,
delay) and vector activation are not implemented here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from bostonia.lore.schemas import LoreEntry
from bostonia.lore.store import LorebookStore
from bostonia.prompt.builder import PromptInjection

DEFAULT_SCAN_DEPTH = 2
# Lore goes in just before the last two messages (the latest reply and the user's new message): lore
# changes with the words of those very messages, so everything after it is re-read every turn. Deeper
# would re-read more history each turn for no gain; at 2 a long chat's turn re-reads as little as a new
# chat's (measured: benchmarks/chat_engine.py (b)).
DEFAULT_DEPTH = 2
DEFAULT_BUDGET_TOKENS = 600
CHARS_PER_TOKEN = 4  # the injector has no tokenizer; the prompt builder counts exactly afterwards
REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)


def key_matches(key: str, text: str, entry: LoreEntry) -> bool:
    key = key.strip()
    if not key:
        return False
    if entry.use_regex or REGEX_KEY.match(key):
        found = REGEX_KEY.match(key)
        pattern, flags = (found.group(1), found.group(2)) if found else (key, "")
        try:
            return re.search(pattern, text, re.IGNORECASE if "i" in flags else 0) is not None
        except re.error:
            return False
    case_sensitive = bool(entry.case_sensitive)
    haystack, needle = (text, key) if case_sensitive else (text.lower(), key.lower())
    if entry.match_whole_words:
        return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) is not None
    return needle in haystack


def is_active(entry: LoreEntry, text: str, seed: str) -> bool:
    if not entry.enabled or not entry.content.strip():
        return False
    if not entry.constant:
        if not any(key_matches(key, text, entry) for key in entry.keys):
            return False
        secondary = [key for key in entry.secondary_keys if key.strip()]
        if entry.selective and secondary:
            hits = [key_matches(key, text, entry) for key in secondary]
            logic = entry.selective_logic
            if (
                (logic == 0 and not any(hits))
                or (logic == 1 and all(hits))
                or (logic == 2 and any(hits))
                or (logic == 3 and not all(hits))
            ):
                return False
    if entry.probability < 100:
        # Stable for one turn of one conversation, so re-rendering the same prompt gives the same lore.
        roll = int.from_bytes(hashlib.sha256(f"{seed}|{entry.id}".encode()).digest()[:4], "big") % 100
        return roll < entry.probability
    return True


class LoreInjector:
    """A `PromptInjector` over the character's lorebook."""

    def __init__(self, lorebooks: LorebookStore) -> None:
        self.lorebooks = lorebooks

    async def injections(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        if character.lorebook_id is None:  # most characters: no read on this per-turn path
            return []
        book = await self.lorebooks.get(character.lorebook_id)
        if book is None or not book.entries:
            return []
        scan_depth = book.scan_depth if book.scan_depth and book.scan_depth > 0 else DEFAULT_SCAN_DEPTH
        text = "\n".join(message.content for message in history[-scan_depth:])
        seed = f"{conversation.id}|{len(history)}"
        active = [entry for entry in book.entries if is_active(entry, text, seed)]
        # Highest order first into the budget; then placed in order, lowest first (closest to the start).
        active.sort(key=lambda entry: entry.insertion_order, reverse=True)
        budget = book.token_budget if book.token_budget and book.token_budget > 0 else DEFAULT_BUDGET_TOKENS
        chosen, used = [], 0
        for entry in active:
            cost = len(entry.content) // CHARS_PER_TOKEN + 1
            if used + cost > budget:
                continue
            chosen.append(entry)
            used += cost
        chosen.sort(key=lambda entry: entry.insertion_order)
        return [
            PromptInjection(
                name="lore",
                content=entry.content.strip(),
                depth=entry.depth if entry.placement == "at_depth" and entry.depth is not None else DEFAULT_DEPTH,
                role=entry.role if entry.role in ("system", "user", "assistant") else "system",  # type: ignore[arg-type]
            )
            for entry in chosen
        ]
