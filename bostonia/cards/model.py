"""Character cards (Tavern V1, V2 `chara_card_v2`, V3 `chara_card_v3`) read into one normalized shape,
and written back as V2/V3 JSON objects.

Nothing a card carries is dropped: unknown `data` keys go to `extra`, unknown top-level keys (SillyTavern's
`creatorcomment`, `avatar`, `chat`, `fav`, ...) to `top_level`, and `extensions` is kept verbatim.
"""

from __future__ import annotations

from typing import Any, Literal

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
# The V1 fields that V2/V3 writers copy to the top level of the card.
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
# Fields the normalized card models itself; anything else in `data` is kept in `extra`.
MODELLED = {*TEXT_FIELDS, "alternate_greetings", "tags", "extensions", "character_book"}
V2, V3 = "chara_card_v2", "chara_card_v3"
# Pygmalion's JSON characters (its notepad and character creator; text-generation-webui read them too), which
# SillyTavern imports as these card fields.
PYGMALION_FIELDS = {
    "char_name": "name",
    "char_persona": "description",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}
# text-generation-webui's characters (YAML, or JSON of the same keys) call the description and the greeting so.
WEBUI_FIELDS = {"context": "description", "greeting": "first_mes"}
Spec = Literal["v2", "v3"]


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
    # Top-level keys of a V2/V3 card besides spec, spec_version, data and the V1 copies of data fields.
    top_level: dict[str, Any] = msgspec.field(default_factory=dict)
    spec: str = V2
    spec_version: str = "2.0"

    @property
    def tagline(self) -> str:
        ours = self.extensions.get("bostonia")
        if isinstance(ours, dict) and isinstance(ours.get("tagline"), str):
            return ours["tagline"]
        return derived_tagline(self.creator_notes, self.description)


def derived_tagline(creator_notes: str, description: str) -> str:
    """The tagline of a card that does not name one: the first line of its notes or description."""
    first_line = (creator_notes or description).strip().splitlines()
    return first_line[0][:160] if first_line else ""


def invalid(message: str, field: str | None = None) -> InvalidInput:
    return InvalidInput(message, code="invalid_card", details={"field": field} if field else None)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and key != "name":
        return str(value)  # e.g. `"character_version": 1.2` from hand-written cards: the text is unambiguous
    if not isinstance(value, str):
        raise invalid(f"card field {key!r} must be a string, not {type(value).__name__}", key)
    return value


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str) and key == "tags":  # some writers store tags as one comma-separated string
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"card field {key!r} must be a list of strings", key)
    return [v.strip() for v in value if v.strip()] if key == "tags" else value


def _check_v3_extras(data: dict[str, Any]) -> None:
    """The V3 fields we do not model still have types; a wrong one is an error, not silent garbage."""
    if not isinstance(data.get("nickname", ""), str | None):
        raise invalid("card field 'nickname' must be a string", "nickname")
    for key in ("group_only_greetings", "source"):
        value = data.get(key, [])
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise invalid(f"card field {key!r} must be a list of strings", key)
    notes = data.get("creator_notes_multilingual", {})
    if notes is not None and (not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values())):
        raise invalid(
            "card field 'creator_notes_multilingual' must map language codes to strings", "creator_notes_multilingual"
        )
    for key in ("creation_date", "modification_date"):
        value = data.get(key, 0)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid(f"card field {key!r} must be a number (Unix seconds)", key)
    assets = data.get("assets", [])
    if assets is not None and (
        not isinstance(assets, list)
        or not all(
            isinstance(a, dict) and all(isinstance(a.get(k, ""), str) for k in ("type", "uri", "name", "ext"))
            for a in assets
        )
    ):
        raise invalid("card field 'assets' must be a list of {type, uri, name, ext} objects", "assets")


def parse_card(obj: Any) -> CharacterCard:
    """Normalize a decoded card JSON object of any spec version."""
    if not isinstance(obj, dict):
        raise invalid("a character card must be a JSON object")
    spec = obj.get("spec")
    top_level: dict[str, Any] = {}
    spec_version = "1.0"
    if spec in (V2, V3) or (spec is None and isinstance(obj.get("data"), dict)):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise invalid(f"{spec} card has no `data` object", "data")
        spec = spec or V2
        # A field the writer put only at the top level (old exporters) is read there, as SillyTavern does.
        data = {**{key: obj[key] for key in V1_FIELDS if key in obj and key not in data}, **data}
        raw_version = obj.get("spec_version", "3.0" if spec == V3 else "2.0")
        spec_version = str(raw_version) if isinstance(raw_version, str | int | float) else "2.0"
        top_level = {
            key: value
            for key, value in obj.items()
            if key not in ("spec", "spec_version", "data") and not (key in V1_FIELDS and data.get(key) == value)
        }
    elif spec is not None:
        raise invalid(f"unsupported card spec {str(spec)[:40]!r} (expected chara_card_v2 or chara_card_v3)", "spec")
    else:
        data = obj  # V1: the fields sit at the top level
        if "char_name" in obj and "name" not in obj:
            data = {PYGMALION_FIELDS.get(key, key): value for key, value in obj.items()}
        renamed = {key: field for key, field in WEBUI_FIELDS.items() if key in data and field not in data}
        if renamed:
            data = {renamed.get(key, key): value for key, value in data.items()}
        spec = "chara_card_v1"
    name = _text(data, "name").strip()
    if not name:
        raise invalid("the card has no name", "name")
    extensions = data.get("extensions")
    extensions = {} if extensions is None else extensions
    if not isinstance(extensions, dict):
        raise invalid("card field 'extensions' must be an object", "extensions")
    book = data.get("character_book")
    if book is not None and not isinstance(book, dict):
        raise invalid("card field 'character_book' must be an object", "character_book")
    _check_v3_extras(data)
    extra = {k: v for k, v in data.items() if k not in MODELLED}
    if extra.get("group_only_greetings") == []:
        del extra["group_only_greetings"]  # V3 requires it; we always write it, so an empty one is not data
    return CharacterCard(
        **{key: _text(data, key) for key in TEXT_FIELDS if key != "name"},
        name=name,
        alternate_greetings=_strings(data, "alternate_greetings"),
        tags=_strings(data, "tags"),
        extensions=extensions,
        character_book=book,
        extra=extra,
        top_level=top_level,
        spec=spec,
        spec_version=spec_version,
    )


def card_data(card: CharacterCard) -> dict[str, Any]:
    """The card's `data` object, the same for V2 and V3 (V3's required `group_only_greetings` included)."""
    data: dict[str, Any] = {key: getattr(card, key) for key in TEXT_FIELDS}
    data["alternate_greetings"] = list(card.alternate_greetings)
    data["tags"] = list(card.tags)
    data["extensions"] = card.extensions
    if card.character_book is not None:
        data["character_book"] = card.character_book
    data.update(card.extra)
    data.setdefault("group_only_greetings", [])
    return data


def card_json(card: CharacterCard, spec: Spec = "v3") -> dict[str, Any]:
    """A full card object as SillyTavern writes it: the V1 fields copied to the top level, then the
    top-level extras the card arrived with, then spec, spec_version and data."""
    data = card_data(card)
    out: dict[str, Any] = {key: data[key] for key in V1_FIELDS}
    out.update(card.top_level)
    out["spec"] = V3 if spec == "v3" else V2
    out["spec_version"] = "3.0" if spec == "v3" else "2.0"
    out["data"] = data
    return out
