"""The lore activation Bostonia had before World Info was completed (issue 10's starting point), kept
verbatim in substance as the baseline of `python -m benchmarks lore`: keys tried one by one with `in` or
`re.search` over the scanned text, each entry on its own, no recursion, groups or timed effects."""

from __future__ import annotations

import hashlib
import re

from bostonia.lore.schemas import LoreEntry

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
        roll = int.from_bytes(hashlib.sha256(f"{seed}|{entry.id}".encode()).digest()[:4], "big") % 100
        return roll < entry.probability
    return True


def activate(entries: list[LoreEntry], messages: list[str], scan_depth: int, budget: int, seed: str) -> list[LoreEntry]:
    text = "\n".join(messages[-scan_depth:])
    active = [entry for entry in entries if is_active(entry, text, seed)]
    active.sort(key=lambda entry: entry.insertion_order, reverse=True)
    chosen, used = [], 0
    for entry in active:
        cost = len(entry.content) // 4 + 1
        if used + cost > budget:
            continue
        chosen.append(entry)
        used += cost
    chosen.sort(key=lambda entry: entry.insertion_order)
    return chosen
