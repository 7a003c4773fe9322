"""Conversions between the three lorebook shapes found in the wild, without losing a field:

- a card's `character_book` (and the standalone `{"spec": "lorebook_v3", "data": book}`): entries are a
  list; SillyTavern's own settings sit in each entry's `extensions`, in snake_case;
- a SillyTavern World Info file: `{"entries": {"<uid>": entry}}` with those settings as camelCase
  top-level fields.

Keys we do not know are carried in `extra` and written back where they came from.
"""

from __future__ import annotations

from typing import Any

from bostonia.errors import InvalidInput
from bostonia.lore.schemas import ROLES, Lorebook, LoreEntry, extension_flag, extension_number

# World Info field -> its name inside a card entry's `extensions` (SillyTavern's mapping).
WI_TO_EXTENSION = {
    "position": "position",
    "selectiveLogic": "selectiveLogic",
    "excludeRecursion": "exclude_recursion",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "displayIndex": "display_index",
    "probability": "probability",
    "useProbability": "useProbability",
    "depth": "depth",
    "role": "role",
    "group": "group",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "useGroupScoring": "use_group_scoring",
    "scanDepth": "scan_depth",
    "caseSensitive": "case_sensitive",
    "matchWholeWords": "match_whole_words",
    "automationId": "automation_id",
    "vectorized": "vectorized",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
    "matchPersonaDescription": "match_persona_description",
    "matchCharacterDescription": "match_character_description",
    "matchCharacterPersonality": "match_character_personality",
    "matchCharacterDepthPrompt": "match_character_depth_prompt",
    "matchScenario": "match_scenario",
    "matchCreatorNotes": "match_creator_notes",
    "triggers": "triggers",
    "ignoreBudget": "ignore_budget",
}
CARD_POSITIONS = {"before_char": 0, "after_char": 1}  # a card entry's position names, as World Info numbers
EXTENSION_TO_WI = {snake: camel for camel, snake in WI_TO_EXTENSION.items()}
CARD_ENTRY_FIELDS = {
    "keys",
    "secondary_keys",
    "content",
    "name",
    "comment",
    "enabled",
    "constant",
    "selective",
    "insertion_order",
    "priority",
    "position",
    "case_sensitive",
    "use_regex",
    "id",
    "extensions",
}
WI_ENTRY_FIELDS = {
    "uid",
    "key",
    "keysecondary",
    "comment",
    "content",
    "constant",
    "selective",
    "order",
    "disable",
    "name",
    "extensions",
    *WI_TO_EXTENSION,
}
BOOK_FIELDS = {"name", "description", "scan_depth", "token_budget", "recursive_scanning", "extensions", "entries"}


def invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_lorebook", details={"field": field})


# -- typed field readers: a wrong type is an error naming the field ---------------------------------


def _str(obj: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid(f"{where}.{key} must be a string, not {type(value).__name__}", f"{where}.{key}")
    return value


def _bool(obj: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # some writers use 0/1
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):  # hand-edited and converted files
        return value.strip().lower() == "true"
    raise invalid(f"{where}.{key} must be true or false", f"{where}.{key}")


def _int(obj: dict[str, Any], key: str, where: str, default: int | None) -> int | None:
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, str):  # "100" from hand-edited and converted files, as JavaScript's Number() reads it
        if not value.strip():
            return default
        number = extension_number(value)
        value = value if number is None else number
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**53:
        raise invalid(f"{where}.{key} must be an integer", f"{where}.{key}")
    return value


def _keys(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, str):  # older files store keys as one comma-separated string
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"{where}.{key} must be a list of strings", f"{where}.{key}")
    return value


def _object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{where}.{key} must be an object", f"{where}.{key}")
    return value


def _uid(value: Any, where: str) -> int | str | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise invalid(f"{where} id must be a number or a string", where)


def with_derived_columns(entry: LoreEntry) -> LoreEntry:
    """Fill the query columns from the entry's extensions (the extensions stay the source of truth)."""
    ext = entry.extensions

    def number(key: str) -> int | None:
        return extension_number(ext.get(key))

    logic = number("selectiveLogic")
    entry.selective_logic = logic if logic is not None and 0 <= logic <= 3 else 0
    entry.depth = number("depth")
    entry.display_index = number("display_index")
    probability = number("probability")
    entry.probability = min(100, max(0, probability)) if probability is not None else 100
    role = ext.get("role")
    if isinstance(role, int) and not isinstance(role, bool) and 0 <= role < len(ROLES):
        entry.role = ROLES[role]
    else:
        entry.role = role if role in ROLES else None
    entry.match_whole_words = extension_flag(ext.get("match_whole_words"))
    return entry


# -- card character_book ------------------------------------------------------------------------------


def entry_from_card(obj: Any, where: str) -> LoreEntry:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object", where)
    if "key" in obj and "keys" not in obj:
        return entry_from_world_info(obj, where)  # a World Info entry pasted into a card's book
    raw_position = obj.get("position")
    if isinstance(raw_position, int) and not isinstance(raw_position, bool):
        # Some writers put SillyTavern's numeric position here; the number lives on in the extensions.
        obj = {**obj, "extensions": {"position": raw_position, **_object(obj, "extensions", where)}}
        position = "before_char" if raw_position == 0 else "after_char"
    else:
        position = _str(obj, "position", where, "before_char")
    return with_derived_columns(
        LoreEntry(
            uid=_uid(obj.get("id"), where),
            keys=_keys(obj, "keys", where),
            secondary_keys=_keys(obj, "secondary_keys", where),
            content=_str(obj, "content", where),
            name=_str(obj, "name", where),
            comment=_str(obj, "comment", where),
            enabled=_bool(obj, "enabled", where, True),
            constant=_bool(obj, "constant", where, False),
            selective=_bool(obj, "selective", where, False),
            insertion_order=_int(obj, "insertion_order", where, 100) or 0,
            priority=_int(obj, "priority", where, None),
            position=position,
            case_sensitive=None if obj.get("case_sensitive") is None else _bool(obj, "case_sensitive", where, False),
            use_regex=_bool(obj, "use_regex", where, False),
            extensions=_object(obj, "extensions", where),
            extra={k: v for k, v in obj.items() if k not in CARD_ENTRY_FIELDS},
        )
    )


def book_from_card(obj: Any, where: str = "character_book") -> Lorebook:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object", where)
    entries = obj.get("entries", [])
    if entries is None:
        entries = []
    if isinstance(entries, dict):  # World Info's shape (entries keyed by uid), seen inside cards too
        entries = list(entries.values())
    if not isinstance(entries, list):
        raise invalid(f"{where}.entries must be a list", f"{where}.entries")
    return Lorebook(
        name=_str(obj, "name", where),
        description=_str(obj, "description", where),
        scan_depth=_int(obj, "scan_depth", where, None),
        token_budget=_int(obj, "token_budget", where, None),
        recursive_scanning=_bool(obj, "recursive_scanning", where, False),
        extensions=_object(obj, "extensions", where),
        extra={k: v for k, v in obj.items() if k not in BOOK_FIELDS},
        entries=[entry_from_card(entry, f"{where}.entries[{i}]") for i, entry in enumerate(entries)],
    )


def entry_to_card(entry: LoreEntry) -> dict[str, Any]:
    out: dict[str, Any] = dict(entry.extra)
    if entry.uid is not None:
        out["id"] = entry.uid
    out.update(
        keys=list(entry.keys),
        secondary_keys=list(entry.secondary_keys),
        comment=entry.comment,
        content=entry.content,
        constant=entry.constant,
        selective=entry.selective,
        insertion_order=entry.insertion_order,
        enabled=entry.enabled,
        position=entry.position,
        use_regex=entry.use_regex,
        extensions=entry.extensions,
    )
    if entry.name:
        out["name"] = entry.name
    if entry.priority is not None:
        out["priority"] = entry.priority
    if entry.case_sensitive is not None:
        out["case_sensitive"] = entry.case_sensitive
    return out


def book_to_card(book: Lorebook) -> dict[str, Any]:
    """The book as a card's `character_book` (also the `data` of a `lorebook_v3` file)."""
    out: dict[str, Any] = {k: v for k, v in book.extra.items() if k != "originalData"}
    out.update(name=book.name, description=book.description)
    if book.scan_depth is not None:
        out["scan_depth"] = book.scan_depth
    if book.token_budget is not None:
        out["token_budget"] = book.token_budget
    out["recursive_scanning"] = book.recursive_scanning
    out["extensions"] = book.extensions
    out["entries"] = [entry_to_card(entry) for entry in book.entries]
    return out


# -- SillyTavern World Info -----------------------------------------------------------------------------


def entry_from_world_info(obj: Any, where: str) -> LoreEntry:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object", where)
    extensions = dict(_object(obj, "extensions", where))
    for camel, snake in WI_TO_EXTENSION.items():
        if camel in obj:
            extensions[snake] = obj[camel]
    position = obj.get("position")
    if isinstance(position, str):  # "1", or a card's position name as some converters write it
        number = CARD_POSITIONS.get(position, extension_number(position))
        position = extensions["position"] = position if number is None else number
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise invalid(f"{where}.position must be a number (0-6)", f"{where}.position")
    case = obj.get("caseSensitive")
    return with_derived_columns(
        LoreEntry(
            uid=_uid(obj.get("uid"), where),
            keys=_keys(obj, "key", where),
            secondary_keys=_keys(obj, "keysecondary", where),
            content=_str(obj, "content", where),
            name=_str(obj, "name", where),
            comment=_str(obj, "comment", where),
            enabled=not _bool(obj, "disable", where, False),
            constant=_bool(obj, "constant", where, False),
            selective=_bool(obj, "selective", where, True),
            insertion_order=_int(obj, "order", where, 100) or 0,
            position="before_char" if not position else "after_char",
            case_sensitive=case if isinstance(case, bool) else None,
            extensions=extensions,
            extra={k: v for k, v in obj.items() if k not in WI_ENTRY_FIELDS},
        )
    )


def book_from_world_info(obj: Any, name: str) -> Lorebook:
    if isinstance(obj, dict) and isinstance(obj.get("entries"), list):  # the entries as a list (converters)
        obj = {**obj, "entries": {str(index): entry for index, entry in enumerate(obj["entries"])}}
    if not isinstance(obj, dict) or not isinstance(obj.get("entries"), dict):
        raise invalid("a World Info file must have an `entries` object", "entries")
    entries = [entry_from_world_info(entry, f"entries[{key!r}]") for key, entry in obj["entries"].items()]
    book_name = obj.get("name")
    return Lorebook(
        name=book_name if isinstance(book_name, str) and book_name else name,
        description=_str(obj, "description", "world_info"),
        recursive_scanning=True,  # World Info files have no such flag: recursion follows the user's setting
        extra={k: v for k, v in obj.items() if k != "entries"},
        entries=entries,
    )


def entry_to_world_info(entry: LoreEntry, index: int) -> dict[str, Any]:
    out: dict[str, Any] = dict(entry.extra)
    position = entry.extensions.get("position")
    out.update(
        uid=entry.uid if entry.uid is not None else index,
        key=list(entry.keys),
        keysecondary=list(entry.secondary_keys),
        comment=entry.comment,
        content=entry.content,
        constant=entry.constant,
        selective=entry.selective,
        order=entry.insertion_order,
        position=position if isinstance(position, int) else (1 if entry.position == "after_char" else 0),
        disable=not entry.enabled,
    )
    if entry.name:
        out["name"] = entry.name
    rest: dict[str, Any] = {}
    for key, value in entry.extensions.items():
        camel = EXTENSION_TO_WI.get(key)
        if camel == "position":
            continue
        if camel is None:
            rest[key] = value
        else:
            out[camel] = value
    if entry.case_sensitive is not None:
        out.setdefault("caseSensitive", entry.case_sensitive)
    if rest:
        out["extensions"] = rest
    return out


def book_to_world_info(book: Lorebook) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for index, entry in enumerate(book.entries):
        converted = entry_to_world_info(entry, index)
        key = str(converted["uid"])
        if key in entries:  # duplicate ids in the source: keep every entry
            key = str(index)
            while key in entries:
                key += "_"
        entries[key] = converted
    out: dict[str, Any] = {"entries": entries}
    out.update({k: v for k, v in book.extra.items() if k != "entries"})
    return out


# Per dialect, the fields of an entry that hold its keys, content, title and order, as SillyTavern maps them
# (None: read below, in that dialect's own way).
FOREIGN_FIELDS: dict[str, dict[str, str | None]] = {
    "novelai": {"key": "keys", "content": "text", "comment": "displayName", "order": None},
    "agnai": {"key": "keywords", "content": "entry", "comment": "name", "order": "weight"},
    "risu": {"key": None, "content": "content", "comment": "comment", "order": None},
}


def foreign_entries(obj: dict[str, Any], fmt: str) -> dict[str, Any]:
    """A NovelAI, Agnai or RisuAI book's entries as World Info entries, mapped as SillyTavern imports them."""
    raw = obj["data"] if fmt == "risu" else obj["entries"]
    entries: dict[str, Any] = {}
    for index, item in enumerate(raw):
        where = f"entries[{index}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object", where)
        fields = FOREIGN_FIELDS[fmt]
        entry: dict[str, Any] = {
            "uid": index,
            "selective": False,
            "key": (item.get(fields["key"]) if fields["key"] else None) or [],
            "content": item.get(fields["content"]) or "",
            "comment": item.get(fields["comment"]) or "",
            "order": (item.get(fields["order"]) if fields["order"] else None) or 0,
            "disable": item.get("enabled") is False,
        }
        if fmt == "novelai":
            context = item.get("contextConfig")
            entry["order"] = (context.get("budgetPriority") if isinstance(context, dict) else None) or 0
            entry["constant"] = item.get("forceActivation") is True
        elif fmt == "risu":  # keys are one comma-separated string
            entry["key"], entry["keysecondary"] = split_keys(item.get("key")), split_keys(item.get("secondkey"))
            entry["order"] = item.get("insertorder") or 100
            entry["constant"] = item.get("alwaysActive") is True
            entry["selective"] = item.get("selective") is True
        entries[str(index)] = entry
    return entries


def split_keys(value: Any) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()] if isinstance(value, str) else []


def book_from_file(obj: dict[str, Any], fmt: str, name: str) -> Lorebook:
    """A standalone lorebook file, as detected by `bostonia.cards.reader.lorebook_format`."""
    if fmt == "world_info":
        return book_from_world_info(obj, name)
    if fmt in ("novelai", "agnai", "risu"):
        title = obj.get("name")
        book = book_from_world_info(
            {"entries": foreign_entries(obj, fmt)}, title if isinstance(title, str) and title else name
        )
        description = obj.get("description")
        book.description = description if isinstance(description, str) else ""
        book.extra = {"imported_from": fmt}
        return book
    book = book_from_card(obj.get("data"), "data") if fmt == "lorebook_v3" else book_from_card(obj, "lorebook")
    book.name = book.name or name
    return book


def book_to_lorebook_v3(book: Lorebook) -> dict[str, Any]:
    return {"spec": "lorebook_v3", "data": book_to_card(book)}
