"""Applying the API's flat entry fields to a stored entry, and refusing what must not be stored.

The stored form stays SillyTavern's: the card fields as columns and the World Info settings in the
entry's `extensions` under the names SillyTavern writes inside cards (`group_weight`, `sticky`,
`selectiveLogic`, ...), so an edited book exports exactly as SillyTavern would write it. The derived
query columns are refreshed from the extensions afterwards (`convert.with_derived_columns`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.errors import InvalidInput
from bostonia.lore.convert import with_derived_columns
from bostonia.lore.matching import InvalidPattern, check_pattern, regex_parts
from bostonia.lore.schemas import LOGIC_NAMES, PLACEMENTS, ROLES, EntryFields, LoreEntry

# Entry field -> its key in `extensions` (SillyTavern's names inside a card's book).
EXTENSION_KEYS = {
    "depth": "depth",
    "probability": "probability",
    "use_probability": "useProbability",
    "group": "group",
    "group_override": "group_override",
    "group_weight": "group_weight",
    "use_group_scoring": "use_group_scoring",
    "scan_depth": "scan_depth",
    "match_whole_words": "match_whole_words",
    "exclude_recursion": "exclude_recursion",
    "prevent_recursion": "prevent_recursion",
    "delay_until_recursion": "delay_until_recursion",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
    "vectorized": "vectorized",
    "ignore_budget": "ignore_budget",
    "automation_id": "automation_id",
    "display_index": "display_index",
}
COLUMN_FIELDS = (
    "keys",
    "secondary_keys",
    "content",
    "comment",
    "name",
    "enabled",
    "constant",
    "selective",
    "insertion_order",
    "priority",
    "use_regex",
)


def bad(message: str, field: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="invalid_lore_entry", details={"field": field, **details})


def logic_number(value: int | str) -> int:
    if isinstance(value, int) and 0 <= value < len(LOGIC_NAMES):
        return value
    if isinstance(value, str) and value.strip().lower() in LOGIC_NAMES:
        return LOGIC_NAMES.index(value.strip().lower())
    raise bad(
        f"unknown selective logic {value!r}; use and_any, not_all, not_any or and_all (or 0-3)", "selective_logic"
    )


def position_number(value: int | str) -> int:
    if isinstance(value, int) and 0 <= value < len(PLACEMENTS):
        return value
    if isinstance(value, str) and value.strip().lower() in PLACEMENTS:
        return PLACEMENTS.index(value.strip().lower())
    raise bad(f"unknown position {value!r}; use one of {', '.join(PLACEMENTS)} (or 0-6)", "position")


def check_keys(entry: LoreEntry) -> None:
    """Every regex key must compile and be safe; plain keys cannot be blank-only lists' only member."""
    for field, keys in (("keys", entry.keys), ("secondary_keys", entry.secondary_keys)):
        for key in keys:
            parts = regex_parts(key.strip(), entry.use_regex)
            if parts is None:
                continue
            try:
                check_pattern(*parts)
            except InvalidPattern as exc:
                raise bad(f"invalid regex key {key!r}: {exc}", field, key=key) from None


def apply_fields(entry: LoreEntry, fields: EntryFields) -> LoreEntry:
    """A new entry: `entry` with `fields` applied (unset fields unchanged). Raises `InvalidInput`."""
    values = msgspec.structs.asdict(fields)
    changed = {k: v for k, v in values.items() if v is not msgspec.UNSET}
    out = msgspec.structs.replace(entry, extensions=dict(entry.extensions))
    ext = out.extensions
    for name in COLUMN_FIELDS:
        if name in changed:
            value = changed[name]
            if name in ("keys", "secondary_keys"):
                value = [key for key in value if key.strip()]
            setattr(out, name, value)
    if "selective_logic" in changed:
        ext["selectiveLogic"] = logic_number(changed["selective_logic"])
    if "position" in changed:
        number = position_number(changed["position"])
        ext["position"] = number
        out.position = "before_char" if number == 0 else "after_char"
    if "role" in changed:
        role = changed["role"]
        if role is None:
            ext.pop("role", None)
        else:
            ext["role"] = ROLES.index(role)
    if "case_sensitive" in changed:
        out.case_sensitive = changed["case_sensitive"]
        if changed["case_sensitive"] is None:
            ext.pop("case_sensitive", None)
        else:
            ext["case_sensitive"] = changed["case_sensitive"]
    for name, key in EXTENSION_KEYS.items():
        if name in changed:
            if changed[name] is None:
                ext.pop(key, None)
            else:
                ext[key] = changed[name]
    if {"keys", "secondary_keys", "use_regex"} & changed.keys():
        check_keys(out)  # only what this request changes: an imported book's odd key does not block edits
    return with_derived_columns(out)


def new_entry(fields: EntryFields) -> LoreEntry:
    """An entry with SillyTavern's defaults for a new World Info entry, then `fields`."""
    base = LoreEntry(
        selective=True,
        extensions={"position": 0, "selectiveLogic": 0, "probability": 100, "useProbability": True, "depth": 4},
    )
    return apply_fields(base, fields)
