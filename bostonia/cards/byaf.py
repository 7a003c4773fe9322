"""Backyard AI's character archives (`.byaf`, BYAF v1), read as the card SillyTavern makes of them.

A BYAF is a zip: `manifest.json` names one character (`characters/<id>/character.json`: names, persona,
lore items, images) and one or more scenarios (`scenarios/<id>.json`: the narrative, a greeting, example
dialogue, formatting instructions, sampler values and the chat itself). The card takes the character and the
first scenario; the other scenarios' greetings become alternate greetings, the lore items a character book
(each key a comma-separated list of trigger words, as Backyard's lorebook has them) and the first listed
image the picture. Backyard writes `{character}` and `{user}` where cards write `{{char}}` and `{{user}}`,
and marks a speaker's lines with `#{character}:` and `#{user}:`. The scenarios' chats are not part of
the card (a card import makes a character): the chat import reads them (`bostonia/chat/transfer.py`).

Backyard's older character export (and Faraday's, as it was called before) is one JSON object, flat or under
`character`: `aiDisplayName`/`aiName`, `aiPersona`, `basePrompt`, `customDialogue`, `firstMessage`, `scenario`
and `loreItems` (`legacy_card`).

Errors name the file and the field; nothing here touches storage.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from bostonia.errors import InvalidInput

MANIFEST = "manifest.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
# A single-braced Backyard macro (not part of a card's own `{{user}}`), with the `#` that marks a speaker's line
# in its example dialogue (`#{user}: Hi`), which its writers use in other fields too.
MACRO = re.compile(r"(#?)(?<!\{)\{(character|user)\}(?!\})(:?)", re.IGNORECASE)

JsonReader = Callable[[bytes, str], Any]  # (file bytes, what) -> the decoded JSON value
# The fields only Backyard's (and Faraday's) older character JSON has.
LEGACY_FIELDS = ("aiName", "aiDisplayName", "aiPersona", "customDialogue", "basePrompt")


def bad_byaf(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_byaf")


def is_byaf(contents: dict[str, bytes]) -> bool:
    return MANIFEST in contents


def card_macros(text: str) -> str:
    """Backyard's `{character}`/`{user}` as the card macros `{{char}}`/`{{user}}`; `#{user}:` as `{{user}}:`."""

    def card_macro(match: re.Match[str]) -> str:
        marked, name, colon = match.groups()
        macro = "{{char}}" if name.lower() == "character" else "{{user}}"
        return macro + colon if colon or not marked else marked + macro

    return MACRO.sub(card_macro, text)


def read_byaf(contents: dict[str, bytes], read_json: JsonReader) -> tuple[dict[str, Any], bytes | None]:
    """The V2 card object of an unpacked BYAF, and the bytes of its picture (None without one)."""
    manifest = _object(contents, MANIFEST, read_json)
    characters = manifest.get("characters")
    if not isinstance(characters, list) or not characters or not isinstance(characters[0], str):
        raise bad_byaf("manifest.json lists no character (`characters` must name characters/<id>/character.json)")
    character_path = characters[0]
    character = _object(contents, character_path, read_json)
    scenarios = byaf_scenarios(contents, read_json, manifest)
    name = _text(character, "displayName", character_path).strip() or _text(character, "name", character_path).strip()
    if not name:
        raise bad_byaf(f"{character_path} has no name (`displayName` or `name`)")
    first = scenarios[0] if scenarios else {}
    greetings = list(dict.fromkeys(greeting for scenario in scenarios if (greeting := scenario_greeting(scenario))))
    data: dict[str, Any] = {  # the fields a BYAF has; parse_card gives the others their defaults
        "name": name,
        "description": card_macros(_text(character, "persona", character_path)),
        "scenario": card_macros(_text(first, "narrative", "the first scenario")),
        "first_mes": greetings[0] if greetings else "",
        "alternate_greetings": greetings[1:],
        "mes_example": _examples(first),
        "system_prompt": card_macros(_text(first, "formattingInstructions", "the first scenario")),
        "creator": _author(manifest),
        "tags": ["NSFW"] if character.get("isNSFW") is True else [],
    }
    if book := _book(character.get("loreItems"), name, character_path):
        data["character_book"] = book
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}, _picture(contents, character, character_path)


def byaf_scenarios(
    contents: dict[str, bytes], read_json: JsonReader, manifest: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The scenarios of an unpacked BYAF, in the manifest's order."""
    manifest = manifest if manifest is not None else _object(contents, MANIFEST, read_json)
    return [_object(contents, path, read_json) for path in _paths(manifest.get("scenarios"), "scenarios")]


def legacy_character(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The character of Backyard's older JSON export (flat, or under `character`), or None if `obj` is none."""
    inner = obj.get("character")
    character = inner if isinstance(inner, dict) else obj
    return character if any(field in character for field in LEGACY_FIELDS) else None


def legacy_card(character: dict[str, Any]) -> dict[str, Any]:
    """The V2 card object of a character from Backyard's older JSON export."""
    where = "the Backyard character"

    def first_of(*keys: str) -> str:
        return next((text for key in keys if (text := _text(character, key, where)).strip()), "")

    name = first_of("aiDisplayName", "aiName", "displayName", "name").strip()
    if not name:
        raise bad_byaf(f"{where} has no name (`aiDisplayName` or `aiName`)")
    examples = card_macros(first_of("customDialogue", "mes_example")).strip()
    data: dict[str, Any] = {
        "name": name,
        "description": card_macros(first_of("aiPersona", "description", "persona")),
        "scenario": card_macros(first_of("scenario")),
        "first_mes": card_macros(first_of("firstMessage", "greeting", "first_mes")),
        "mes_example": examples if not examples or examples.startswith("<START>") else f"<START>\n{examples}\n",
        "system_prompt": card_macros(first_of("basePrompt", "systemPrompt", "system_prompt")),
        "tags": ["NSFW"] if character.get("isNSFW") is True else [],
    }
    if book := _book(character.get("loreItems"), name, where):
        data["character_book"] = book
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _object(contents: dict[str, bytes], path: str, read_json: JsonReader) -> dict[str, Any]:
    value = read_json(_file(contents, path), path)
    if not isinstance(value, dict):
        raise bad_byaf(f"{path} in the BYAF must hold a JSON object")
    return value


def _file(contents: dict[str, bytes], path: str) -> bytes:
    data = contents.get(path.lstrip("/"))
    if data is None:
        raise bad_byaf(f"the BYAF's manifest names {path[:120]!r}, which the archive does not hold")
    return data


def _paths(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
        raise bad_byaf(f"manifest.json field {field!r} must be a list of paths")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_byaf(f"{where}: field {key!r} must be text")
    return value


def scenario_greeting(scenario: dict[str, Any]) -> str:
    """A scenario's first message, with card macros ("" without one)."""
    messages = scenario.get("firstMessages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return ""
    text = messages[0].get("text")
    return card_macros(text) if isinstance(text, str) else ""


def _examples(scenario: dict[str, Any]) -> str:
    """The example dialogue as a card's `mes_example`: each example its own `<START>` block."""
    examples = scenario.get("exampleMessages")
    if not isinstance(examples, list):
        return ""
    blocks = [
        card_macros(example["text"]).strip()
        for example in examples
        if isinstance(example, dict) and isinstance(example.get("text"), str) and example["text"].strip()
    ]
    return "".join(f"<START>\n{block}\n" for block in blocks)


def _author(manifest: dict[str, Any]) -> str:
    author = manifest.get("author")
    name = author.get("name") if isinstance(author, dict) else None
    return name if isinstance(name, str) else ""


def _book(items: Any, name: str, where: str) -> dict[str, Any] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise bad_byaf(f"{where}: field 'loreItems' must be a list")
    entries: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), str):
            raise bad_byaf(f"{where}: every lore item needs a text `key` and `value`")
        keys = [key.strip() for key in item["key"].split(",") if key.strip()]
        if keys and item["value"].strip():
            entries.append(
                {
                    "keys": keys,
                    "content": card_macros(item["value"]),
                    "enabled": True,
                    "insertion_order": 100,
                    "id": len(entries),
                    "extensions": {},
                }
            )
    return {"name": f"{name}'s lore", "entries": entries, "extensions": {}} if entries else None


def _picture(contents: dict[str, bytes], character: dict[str, Any], character_path: str) -> bytes | None:
    """The first listed image the archive holds (paths are relative to the character's folder; some writers
    give them from the archive's root)."""
    images = character.get("images")
    if not isinstance(images, list):
        return None
    folder = posixpath.dirname(character_path)
    for image in images:
        path = image.get("path") if isinstance(image, dict) else None
        if not isinstance(path, str) or not path.lower().endswith(IMAGE_SUFFIXES):
            continue
        for candidate in (posixpath.join(folder, path), path):
            if (data := contents.get(posixpath.normpath(candidate))) is not None:
                return data
    return None
