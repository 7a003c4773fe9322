"""Agnai's own character files (its "Agnaistic" JSON export), read as the V2 card Agnai itself writes of them.

Agnai keeps a character's description as a `persona`: a kind and attributes, each a list of values. Its
export to a card renders the persona into `description` in the persona's own notation (W++, SBF, Boostyle or
plain text), and its `description` field is the creator's note (`creator_notes`); the rest maps one to one.
Its character book is one of its memory books (`entries` of `name`, `entry`, `keywords`, `priority`,
`weight`, `enabled`).

Errors name the field; nothing here touches storage.
"""

from __future__ import annotations

from typing import Any

from bostonia.errors import InvalidInput

# Agnai's own test for its format (a `kind`, else the fields only its characters have together).
NATIVE_FIELDS = ("name", "persona", "greeting", "scenario", "sampleChat")
TEXT_FIELDS = {  # Agnai's name -> the card's
    "name": "name",
    "greeting": "first_mes",
    "scenario": "scenario",
    "sampleChat": "mes_example",
    "description": "creator_notes",
    "systemPrompt": "system_prompt",
    "postHistoryInstructions": "post_history_instructions",
    "creator": "creator",
    "characterVersion": "character_version",
}


def bad_agnai(message: str) -> InvalidInput:
    return InvalidInput(f"Agnai character: {message}", code="invalid_card")


def is_agnai_character(obj: dict[str, Any]) -> bool:
    if "spec" in obj or "data" in obj:
        return False
    return obj.get("kind") == "character" or all(field in obj for field in NATIVE_FIELDS)


def agnai_card(obj: dict[str, Any]) -> dict[str, Any]:
    """The V2 card object of an Agnai character."""
    data: dict[str, Any] = {}
    for field, card_field in TEXT_FIELDS.items():
        value = obj.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad_agnai(f"field {field!r} must be text")
        data[card_field] = value
    name = data.get("name", "").strip()
    if not name:
        raise bad_agnai("it has no name")
    data["description"] = persona_text(name, obj.get("persona"))
    for field, card_field in (("alternateGreetings", "alternate_greetings"), ("tags", "tags")):
        values = obj.get(field)
        if values is not None:
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise bad_agnai(f"field {field!r} must be a list of texts")
            data[card_field] = values
    extensions = obj.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise bad_agnai("field 'extensions' must be an object")
    data["extensions"] = {**(extensions or {}), "agnai": {"persona": obj.get("persona")}}
    if (book := obj.get("characterBook")) is not None:
        data["character_book"] = _book(book, name)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def persona_text(name: str, persona: Any) -> str:
    """The persona in its notation, as Agnai writes it into a card's description."""
    if persona is None:
        return ""
    if not isinstance(persona, dict) or not isinstance(persona.get("attributes", {}), dict):
        raise bad_agnai("field 'persona' must be an object with `kind` and `attributes`")
    attributes: dict[str, list[str]] = {}
    for key, values in persona.get("attributes", {}).items():
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise bad_agnai(f"persona attribute {str(key)[:40]!r} must be a list of texts")
        attributes[str(key)] = values
    kind = persona.get("kind")
    if kind == "wpp":
        lines = [f"{key}({' + '.join(_quoted(values))})" for key, values in attributes.items()]
        return "\n".join([f'[character("{name}") {{', *lines, "}]"])
    if kind == "sbf":
        parts = [f"{key}: {', '.join(_quoted(values))}" for key, values in attributes.items()]
        return f'[ character: "{name}"; {"; ".join(parts)} ]'
    if kind == "boostyle":
        return " + ".join([name, *(value for values in attributes.values() for value in values)])
    if kind == "text" or set(attributes) <= {"text"}:
        return attributes.get("text", [""])[0] if attributes.get("text") else ""
    # Agnai's plain attributes (and a kind it may add later): one "key: values" line each.
    return "\n".join(f"{key}: {', '.join(values)}" for key, values in attributes.items())


def _quoted(values: list[str]) -> list[str]:
    return [f'"{value}"' for value in values]


def _book(book: Any, name: str) -> dict[str, Any]:
    if not isinstance(book, dict) or not isinstance(book.get("entries", []), list):
        raise bad_agnai("field 'characterBook' must be a memory book with a list of `entries`")
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(book.get("entries", [])):
        keywords = entry.get("keywords", []) if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("entry", ""), str)
            or not isinstance(keywords, list)
            or not all(isinstance(keyword, str) for keyword in keywords)
        ):
            raise bad_agnai(f"characterBook entry {index}: needs text `entry` and a list of `keywords`")
        priority, weight = entry.get("priority", 0), entry.get("weight", 0)
        entries.append(
            {
                "keys": keywords,
                "content": entry.get("entry", ""),
                "comment": str(entry.get("name", "")),
                "enabled": entry.get("enabled", True) is not False,
                "insertion_order": weight if isinstance(weight, int) else 0,
                "priority": priority if isinstance(priority, int) else 0,
                "id": index,
                "extensions": {},
            }
        )
    title = book.get("name")
    return {"name": title if isinstance(title, str) and title else f"{name}'s memory", "entries": entries}
