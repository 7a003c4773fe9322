"""The lorebook editor's HTML forms, read into the API's structs (so pages and API validate alike), and
entries turned back into form values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bostonia.errors import InvalidInput
from bostonia.lore.schemas import LOGIC_NAMES, PLACEMENTS, BookPatch, EntryFields, LoreEntry, LoreSettingsPatch

CHECKBOXES = (
    "enabled",
    "constant",
    "selective",
    "use_regex",
    "use_probability",
    "group_override",
    "exclude_recursion",
    "prevent_recursion",
    "vectorized",
    "ignore_budget",
)
TRISTATE = ("case_sensitive", "match_whole_words", "use_group_scoring")  # "" = the user's setting
NUMBERS = ("insertion_order", "probability", "group_weight")
OPTIONAL_NUMBERS = ("priority", "depth", "scan_depth", "sticky", "cooldown", "delay", "display_index")
TEXTS = ("content", "comment", "name", "group", "automation_id")
LABELS = {
    "before_char": "Before character",
    "after_char": "After character",
    "an_top": "Author's note top",
    "an_bottom": "Author's note bottom",
    "at_depth": "@ depth",
    "em_top": "Examples top",
    "em_bottom": "Examples bottom",
}
LOGIC_LABELS = {"and_any": "AND ANY", "not_all": "NOT ALL", "not_any": "NOT ANY", "and_all": "AND ALL"}


def _number(form: Mapping[str, Any], name: str) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number", details={"field": name}) from None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _convert(values: dict[str, Any], kind: type[Any]) -> Any:
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid value: {exc}", details={"field": str(exc).rpartition("$.")[2] or None}) from None


def entry_fields(form: Mapping[str, Any]) -> EntryFields:
    """Every field of the entry form (one key per line: a regex key may contain commas)."""
    values: dict[str, Any] = {
        "keys": _lines(str(form.get("keys", ""))),
        "secondary_keys": _lines(str(form.get("secondary_keys", ""))),
        "selective_logic": str(form.get("selective_logic") or "and_any"),
        "position": str(form.get("position") or "before_char"),
        "role": str(form.get("role") or "") or None,
    }
    values.update({name: str(form.get(name, "")) for name in TEXTS})
    values.update({name: form.get(name) in ("on", "true", "1") for name in CHECKBOXES})
    for name in TRISTATE:
        raw = str(form.get(name) or "")
        values[name] = None if raw == "" else raw == "true"
    for name in NUMBERS:
        number = _number(form, name)
        if number is not None:
            values[name] = number
    for name in OPTIONAL_NUMBERS:
        values[name] = _number(form, name)
    level = _number(form, "delay_until_recursion") or 0
    values["delay_until_recursion"] = False if level <= 0 else (True if level == 1 else level)
    return _convert(values, EntryFields)


def book_patch(form: Mapping[str, Any]) -> BookPatch:
    return _convert(
        {
            "name": str(form.get("name", "")).strip(),
            "description": str(form.get("description", "")),
            "scan_depth": _number(form, "scan_depth"),
            "token_budget": _number(form, "token_budget"),
            "recursive_scanning": form.get("recursive_scanning") in ("on", "true", "1"),
        },
        BookPatch,
    )


SETTING_FLAGS = (
    "recursive",
    "case_sensitive",
    "match_whole_words",
    "use_group_scoring",
    "vector_enabled",
    "vector_all_entries",
)
SETTING_NUMBERS = (
    "scan_depth",
    "budget_percent",
    "budget_cap",
    "min_activations",
    "min_activations_depth_max",
    "max_recursion_steps",
    "depth",
    "vector_max_entries",
    "vector_query_messages",
)


def settings_patch(form: Mapping[str, Any]) -> LoreSettingsPatch:
    """The settings form: every field is on it, so an unticked box (sent as nothing) means off."""
    values: dict[str, Any] = {name: form.get(name) in ("on", "true", "1") for name in SETTING_FLAGS}
    for name in SETTING_NUMBERS:
        number = _number(form, name)
        if number is not None:
            values[name] = number
    if strategy := str(form.get("insertion_strategy") or ""):
        values["insertion_strategy"] = strategy
    if raw := str(form.get("vector_threshold") or "").strip():
        try:
            values["vector_threshold"] = float(raw)
        except ValueError:
            raise InvalidInput("vector threshold must be a number", details={"field": "vector_threshold"}) from None
    return _convert(values, LoreSettingsPatch)


def entry_values(entry: LoreEntry) -> dict[str, Any]:
    """The entry as the form shows it."""
    ext = entry.extensions

    def tri(value: Any) -> str:
        return "" if not isinstance(value, bool) else ("true" if value else "false")

    delay_level = ext.get("delay_until_recursion")
    level = 1 if delay_level is True else delay_level if isinstance(delay_level, int) and delay_level > 1 else 0
    case = entry.case_sensitive if entry.case_sensitive is not None else ext.get("case_sensitive")
    return {
        "id": entry.id,
        "keys": "\n".join(entry.keys),
        "secondary_keys": "\n".join(entry.secondary_keys),
        "content": entry.content,
        "comment": entry.comment,
        "name": entry.name,
        "title": entry.comment or entry.name or (entry.keys[0] if entry.keys else "(untitled)"),
        "enabled": entry.enabled,
        "constant": entry.constant,
        "selective": entry.selective,
        "selective_logic": LOGIC_NAMES[entry.selective_logic] if 0 <= entry.selective_logic < 4 else "and_any",
        "insertion_order": entry.insertion_order,
        "priority": "" if entry.priority is None else entry.priority,
        "position": entry.placement,
        "depth": "" if entry.depth is None else entry.depth,
        "role": entry.role or "",
        "case_sensitive": tri(case),
        "match_whole_words": tri(entry.match_whole_words),
        "use_regex": entry.use_regex,
        "probability": entry.probability,
        "use_probability": ext.get("useProbability", True) is not False,
        "group": ext.get("group", "") if isinstance(ext.get("group"), str) else "",
        "group_override": ext.get("group_override") is True,
        "group_weight": ext.get("group_weight", 100),
        "use_group_scoring": tri(ext.get("use_group_scoring")),
        "scan_depth": "" if ext.get("scan_depth") is None else ext.get("scan_depth"),
        "exclude_recursion": ext.get("exclude_recursion") is True,
        "prevent_recursion": ext.get("prevent_recursion") is True,
        "delay_until_recursion": level,
        "sticky": ext.get("sticky") or "",
        "cooldown": ext.get("cooldown") or "",
        "delay": ext.get("delay") or "",
        "vectorized": ext.get("vectorized") is True,
        "ignore_budget": ext.get("ignore_budget") is True,
        "automation_id": ext.get("automation_id", "") if isinstance(ext.get("automation_id"), str) else "",
        "display_index": "" if entry.display_index is None else entry.display_index,
    }


def choices() -> dict[str, Any]:
    return {
        "placements": [(name, LABELS[name]) for name in PLACEMENTS],
        "logics": list(LOGIC_LABELS.items()),
        "roles": ["system", "user", "assistant"],
    }
