"""Helpers shared by the character and card tests: fixture files, uploads, an independent PNG reader,
and row counts that prove a rejected import stored nothing."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bostonia.app import Services

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CARDS = FIXTURES / "cards"
LOREBOOKS = FIXTURES / "lorebooks"
REAL_CARDS = sorted(CARDS.glob("default_*.png"))  # SillyTavern's own V2 cards
ALL_CARDS = sorted(p for p in CARDS.iterdir() if p.suffix in (".png", ".json", ".charx"))


def card_bytes(name: str) -> bytes:
    return (CARDS / name).read_bytes()


def png_text_chunks(data: bytes) -> dict[str, bytes]:
    """tEXt chunks (lower-cased keyword -> raw text) read without Bostonia's code, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos, order = {}, 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        order.append(kind)
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            out[key.decode("latin-1").lower()] = value
        if kind == b"IEND":
            assert pos + 12 + length == len(data), "data after IEND"
            break
        pos += 12 + length
    out["__order__"] = b",".join(order)
    return out


def card_in_png(data: bytes, keyword: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(png_text_chunks(data)[keyword]))


def upload(client: Any, files: Iterable[tuple[str, bytes]], headers: dict[str, str], **fields: str) -> Any:
    return client.post(
        "/api/v1/characters/import",
        files=[("file", (name, content, "application/octet-stream")) for name, content in files],
        data=fields,
        headers=headers,
    )


def row_counts(client: Any, services: Services) -> dict[str, int]:
    """Rows in every table an import writes, plus the files in the media folder."""

    def count(conn: Any) -> dict[str, int]:
        tables = (
            "characters",
            "character_tags",
            "lorebooks",
            "lorebook_entries",
            "character_assets",
            "character_search_keys",
            "characters_fts",
        )
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}

    with client.portal() as portal:
        counts = portal.call(lambda: services.db.read(count))
    counts["media_files"] = sum(1 for p in services.media.root.rglob("*") if p.is_file())
    return counts


# Optional card keys an export may add with their default value (V2/V3 list them; SillyTavern writes them).
CARD_ENTRY_DEFAULTS = {
    "comment": "",
    "constant": False,
    "selective": False,
    "secondary_keys": [],
    "position": "before_char",
    "use_regex": False,
    "enabled": True,
}


def assert_kept(original: Any, exported: Any, path: str = "$", additions: dict[str, Any] | None = None) -> None:
    """Every value of `original` is in `exported` unchanged (recursively, lists item by item); a key the
    export adds must be one of `additions`, with that default value."""
    if isinstance(original, dict):
        assert isinstance(exported, dict), f"{path}: not an object"
        for key, value in original.items():
            assert key in exported, f"{path}.{key} lost"
            assert_kept(value, exported[key], f"{path}.{key}", additions)
        for key in exported.keys() - original.keys():
            assert additions is not None and key in additions, f"{path}.{key} added"
            assert exported[key] == additions[key], f"{path}.{key} added as {exported[key]!r}"
    elif isinstance(original, list):
        assert isinstance(exported, list) and len(exported) == len(original), f"{path}: list changed"
        for index, (a, b) in enumerate(zip(original, exported, strict=True)):
            assert_kept(a, b, f"{path}[{index}]", additions)
    else:
        assert original == exported and type(original) is type(exported), f"{path}: {original!r} != {exported!r}"
