"""Read any uploaded card file: the type is decided by the content (magic bytes), never by the name.

PNG (`chara`/`ccv3` chunks), JSON (V1/V2/V3 cards, SillyTavern World Info, `lorebook_v3`), CharX (zip,
possibly behind leading bytes), Backyard AI's `.byaf` archives and text-generation-webui's YAML characters.
Every failure is a domain error with a message naming the problem; nothing here touches storage.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, NamedTuple

import msgspec
import yaml

from bostonia.cards.agnai import agnai_card, is_agnai_character
from bostonia.cards.byaf import is_byaf, legacy_card, legacy_character, read_byaf
from bostonia.cards.charx import LOCAL_HEADER, CharxLimits, asset_path, charx_contents, unpack_zip
from bostonia.cards.model import CharacterCard, parse_card
from bostonia.cards.png import SIGNATURE as PNG_SIGNATURE
from bostonia.cards.png import card_text_from_png, embedded_assets
from bostonia.errors import InvalidInput, PayloadTooLarge

# The last three are the other programs' books SillyTavern reads too (converted by bostonia.lore.convert).
LorebookFormat = Literal["world_info", "lorebook_v3", "character_book", "novelai", "agnai", "risu"]
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "JPEG image",
    b"GIF87a": "GIF image",
    b"GIF89a": "GIF image",
    b"RIFF": "RIFF (WebP?) image",
}


class CardLimits(NamedTuple):
    max_card_bytes: int
    max_card_json_bytes: int
    charx: CharxLimits

    @classmethod
    def from_config(cls, uploads: Any) -> CardLimits:
        return cls(
            max_card_bytes=uploads.max_card_bytes,
            max_card_json_bytes=uploads.max_card_json_bytes,
            charx=CharxLimits(
                max_uncompressed_bytes=uploads.max_charx_uncompressed_bytes,
                max_ratio=uploads.max_charx_ratio,
                max_entries=uploads.max_charx_entries,
                max_card_json_bytes=uploads.max_card_json_bytes,
            ),
        )


class CardFile(msgspec.Struct, kw_only=True):
    card: CharacterCard
    format: Literal["png", "json", "charx", "byaf", "yaml"]
    image: bytes | None = None  # the picture to become the avatar (still to be validated and re-encoded)
    assets: dict[str, bytes] = msgspec.field(default_factory=dict)


class LorebookFile(msgspec.Struct, kw_only=True):
    book: dict[str, Any]  # the decoded object, converted by bostonia.lore.convert
    format: LorebookFormat
    name: str


def decode_json(text: str | bytes, *, what: str, max_bytes: int) -> Any:
    if len(text) > max_bytes:
        raise PayloadTooLarge(f"the {what} is larger than the limit of {max_bytes:,} bytes", code="card_too_large")
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        reason = str(exc)
        if "UTF-8" in reason or "utf-8" in reason:
            raise InvalidInput(f"the {what} is not UTF-8 text", code="invalid_json") from None
        raise InvalidInput(f"the {what} is not valid JSON: {reason[:200]}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} is not UTF-8 text", code="invalid_json") from None
    except RecursionError:
        raise InvalidInput(f"the {what} is nested too deeply", code="invalid_json") from None


def lorebook_format(obj: dict[str, Any]) -> LorebookFormat | None:
    """World Info (`{"entries": {uid: ...}}`), `lorebook_v3`, a bare card book, or a NovelAI (`lorebookVersion`),
    Agnai (`"kind": "memory"`) or RisuAI (`"type": "risu"`) book; None for a card."""
    if obj.get("spec") == "lorebook_v3":
        return "lorebook_v3"
    if "lorebookVersion" in obj and isinstance(obj.get("entries"), list):
        return "novelai"
    if obj.get("kind") == "memory" and isinstance(obj.get("entries"), list):
        return "agnai"
    if obj.get("type") == "risu" and isinstance(obj.get("data"), list):
        return "risu"
    if "spec" in obj or "data" in obj or "first_mes" in obj:
        return None
    entries = obj.get("entries")
    if isinstance(entries, dict):
        return "world_info"
    if isinstance(entries, list):
        # World Info entries (`key`, `keysecondary`) in a list, as some converters write them, are World Info.
        shaped = [e for e in entries if isinstance(e, dict)]
        if shaped and all("key" in e and "keys" not in e for e in shaped):
            return "world_info"
        return "character_book"
    return None


def main_icon(card: CharacterCard, assets: dict[str, bytes]) -> bytes | None:
    """The picture of a CharX card: the `icon` asset named `main`, else the first icon in the archive."""
    declared = card.extra.get("assets")
    icons = [a for a in declared if a.get("type") == "icon"] if isinstance(declared, list) else []
    icons.sort(key=lambda a: a.get("name") != "main")
    for icon in icons:
        path = asset_path(str(icon.get("uri", "")))
        if path is not None and path in assets:
            return assets[path]
    return None


def _from_json_object(obj: Any, filename: str) -> CardFile | LorebookFile:
    if not isinstance(obj, dict):
        raise InvalidInput("the JSON file must hold an object (a card or a lorebook)", code="invalid_card")
    fmt = lorebook_format(obj)
    if fmt is not None:
        return LorebookFile(book=obj, format=fmt, name=filename.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    if is_agnai_character(obj):
        return CardFile(card=parse_card(agnai_card(obj)), format="json")
    if (backyard := legacy_character(obj)) is not None:
        return CardFile(card=parse_card(legacy_card(backyard)), format="json")
    return CardFile(card=parse_card(obj), format="json")


# A YAML character nests a level or two; aliases are refused outright (a few lines of them expand to
# gigabytes: the "billion laughs").
MAX_YAML_DEPTH = 32
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CHARACTER_KEYS = {"name", "char_name"}  # text that merely parses as YAML ("Note: ...") is no character


def decode_yaml(data: bytes) -> Any:
    """The YAML text as JSON's values (dates as ISO text), or None when it is not YAML text at all."""
    try:
        text = data.decode("utf-8-sig")
        depth = 0
        for event in yaml.parse(text, Loader=YAML_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise InvalidInput("the YAML file uses aliases (`*name`), which are not read", code="invalid_card")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise InvalidInput("the YAML file is nested too deeply", code="invalid_card")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    try:
        return _json_value(yaml.load(text, Loader=YAML_LOADER))  # the safe loader: plain values only
    except (yaml.YAMLError, ValueError) as exc:  # a tag it does not know, a date like 2023-13-45
        reason = " ".join(str(exc).split())[:200]
        raise InvalidInput(f"the YAML file holds a value that cannot be read: {reason}", code="invalid_card") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_value(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def sniff(data: bytes) -> str:
    """A short human name for what the bytes look like, for error messages."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<script", b"<head", b"<body")):
        return "an HTML document"
    if head.startswith(b"<"):
        return "an XML/HTML document"
    for magic, name in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return name
    if data.startswith(b"%PDF"):
        return "a PDF document"
    return "an unknown binary format" if b"\0" in data[:512] else "plain text"


def read_card_file(filename: str, data: bytes, limits: CardLimits) -> CardFile | LorebookFile:
    if len(data) > limits.max_card_bytes:
        raise PayloadTooLarge(
            f"{len(data):,} bytes is more than the {limits.max_card_bytes:,}-byte limit for a card file",
            code="file_too_large",
        )
    if not data:
        raise InvalidInput("the file is empty", code="empty_file")
    if data.startswith(PNG_SIGNATURE):
        keyword, text = card_text_from_png(data, max_json_bytes=limits.max_card_json_bytes)
        obj = decode_json(text, what=f"{keyword} card", max_bytes=limits.max_card_json_bytes)
        if not isinstance(obj, dict):
            raise InvalidInput(f"the {keyword} card must be a JSON object", code="invalid_card")
        assets = embedded_assets(data, max_text_chunk_bytes=limits.max_card_bytes)
        return CardFile(card=parse_card(obj), format="png", image=data, assets=assets)
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith((b"{", b"[")):
        return _from_json_object(
            decode_json(stripped, what="JSON file", max_bytes=limits.max_card_json_bytes), filename
        )
    if LOCAL_HEADER in data:  # CharX or BYAF, possibly behind leading bytes (self-extracting, JPEG+ZIP)
        files = unpack_zip(data, limits.charx, what="card archive")
        if is_byaf(files):
            obj, picture = read_byaf(
                files, lambda text, what: decode_json(text, what=f"BYAF {what}", max_bytes=limits.max_card_json_bytes)
            )
            return CardFile(card=parse_card(obj), format="byaf", image=picture)
        contents = charx_contents(files)
        obj = decode_json(contents.card_text, what="CharX card.json", max_bytes=limits.max_card_json_bytes)
        if not isinstance(obj, dict):
            raise InvalidInput("card.json must hold a JSON object", code="invalid_card")
        card = parse_card(obj)
        return CardFile(card=card, format="charx", image=main_icon(card, contents.assets), assets=contents.assets)
    if b"\0" not in data[:512] and isinstance(obj := decode_yaml(data), dict) and CHARACTER_KEYS & obj.keys():
        return CardFile(card=parse_card(obj), format="yaml")
    raise InvalidInput(
        f"unsupported file: this is {sniff(data)}, not a PNG card, JSON card, CharX, BYAF, YAML character or lorebook",
        code="unsupported_file_type",
    )
