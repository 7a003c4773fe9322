"""Character cards (Tavern V1, V2 `chara_card_v2`, V3 `chara_card_v3`) read into one normalized shape."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.errors import InvalidInput

TEXT_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
# Fields the normalized card models itself; anything else in `data` is kept in `extra`.
MODELLED = {*TEXT_FIELDS, "alternate_greetings", "tags", "extensions", "character_book"}


class CharacterCard(msgspec.Struct, kw_only=True):
    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    creator: str = ""
    character_version: str = ""
    alternate_greetings: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    character_book: dict[str, Any] | None = None
    # Other `data` keys (V3 nickname, assets, source, ...), kept verbatim for export.
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    spec: str = "chara_card_v2"

    @property
    def tagline(self) -> str:
        ours = self.extensions.get("bostonia")
        if isinstance(ours, dict) and isinstance(ours.get("tagline"), str):
            return ours["tagline"]
        first_line = (self.creator_notes or self.description).strip().splitlines()
        return first_line[0][:160] if first_line else ""


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(
            f"card field {key!r} must be a string, not {type(value).__name__}",
            code="invalid_card",
            details={"field": key},
        )
    return value


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str):  # some writers store tags as one comma-separated string
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"card field {key!r} must be a list of strings", code="invalid_card", details={"field": key})
    return [v for v in value if v.strip()] if key == "tags" else value


def parse_card(obj: Any) -> CharacterCard:
    """Normalize a decoded card JSON object of any spec version."""
    if not isinstance(obj, dict):
        raise InvalidInput("a character card must be a JSON object", code="invalid_card")
    spec = obj.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise InvalidInput(f"{spec} card has no `data` object", code="invalid_card")
    else:
        data = obj  # V1: the fields sit at the top level
        spec = "chara_card_v1"
    name = _text(data, "name").strip()
    if not name:
        raise InvalidInput("the card has no name", code="invalid_card", details={"field": "name"})
    extensions = data.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise InvalidInput("card field 'extensions' must be an object", code="invalid_card")
    book = data.get("character_book")
    if book is not None and not isinstance(book, dict):
        raise InvalidInput("card field 'character_book' must be an object", code="invalid_card")
    return CharacterCard(
        **{key: _text(data, key) for key in TEXT_FIELDS if key != "name"},
        name=name,
        alternate_greetings=_strings(data, "alternate_greetings"),
        tags=_strings(data, "tags"),
        extensions=extensions,
        character_book=book,
        extra={k: v for k, v in data.items() if k not in MODELLED},
        spec=spec,
    )
