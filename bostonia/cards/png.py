"""Cards inside PNG files: `tEXt` chunks `chara` (V2) and `ccv3` (V3), base64 of the UTF-8 card JSON
(read from `zTXt`/`iTXt` chunks as well). RisuAI also embeds a V3 card's assets, each in a text chunk
`chara-ext-asset_:<path>` (base64) that the card's `__asset:<path>` URIs name.

Reading walks the chunk list with every check a hostile file needs (signature, lengths, CRCs, a cap on
text chunks, a final IEND) before anything is decoded. Writing replaces existing card chunks and puts
`chara` and `ccv3` just before IEND, the way SillyTavern does.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from bostonia.errors import InvalidInput, PayloadTooLarge

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("ccv3", "chara")  # readers prefer ccv3
ASSET_KEYWORD = "chara-ext-asset_:"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
CHUNK_TYPE = re.compile(rb"[A-Za-z]{4}")
# Real files have a few dozen chunks (encoders split IDAT into 8-64 KB pieces); millions of empty chunks would
# only cost time.
MAX_CHUNKS = 50_000
_WHITESPACE = re.compile(rb"\s+")


class Chunk(NamedTuple):
    type: bytes
    start: int  # offset of the chunk's length field
    end: int  # offset just past its CRC
    data: memoryview


def bad_png(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_png")


def iter_chunks(png: bytes, *, max_text_chunk_bytes: int) -> Iterator[Chunk]:
    """Every chunk up to IEND, each checked (length in bounds, CRC); raises on the first problem."""
    if not png.startswith(SIGNATURE):
        raise bad_png("not a PNG file (bad signature)")
    view = memoryview(png)
    pos = len(SIGNATURE)
    first = True
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(png):
            raise bad_png("truncated PNG: it ends before its IEND chunk")
        (length,) = struct.unpack_from(">I", png, pos)
        chunk_type = png[pos + 4 : pos + 8]
        if not CHUNK_TYPE.fullmatch(chunk_type):
            raise bad_png(f"corrupt PNG: invalid chunk type at byte {pos}")
        if first and chunk_type != b"IHDR":
            raise bad_png("corrupt PNG: the first chunk is not IHDR")
        first = False
        if chunk_type in TEXT_CHUNKS and length > max_text_chunk_bytes:
            raise PayloadTooLarge(
                f"PNG {chunk_type.decode()} chunk of {length:,} bytes exceeds the limit of {max_text_chunk_bytes:,}",
                code="chunk_too_large",
            )
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(png):
            raise bad_png(f"truncated PNG: the {chunk_type.decode()} chunk runs past the end of the file")
        (crc,) = struct.unpack_from(">I", png, end - 4)
        if zlib.crc32(view[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            raise bad_png(f"corrupt PNG: the {chunk_type.decode()} chunk at byte {pos} has a wrong CRC")
        yield Chunk(chunk_type, pos, end, view[pos + 8 : end - 4])
        if chunk_type == b"IEND":
            return
        pos = end
    raise bad_png(f"corrupt PNG: more than {MAX_CHUNKS:,} chunks")


def text_keyword(chunk: Chunk) -> str | None:
    """The lower-cased keyword of a text chunk (tEXt, zTXt, iTXt all start with `keyword\0`)."""
    if chunk.type not in TEXT_CHUNKS:
        return None
    keyword, sep, _ = bytes(chunk.data[:80]).partition(b"\0")
    return keyword.decode("latin-1").lower() if sep else None


def _inflate(data: bytes, limit: int, chunk_type: bytes) -> bytes:
    """zlib data of a compressed text chunk, refusing more than `limit` bytes out (a bomb stops there)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise bad_png(f"corrupt PNG: the {chunk_type.decode()} chunk does not decompress") from None
    if len(out) > limit:
        raise PayloadTooLarge(
            f"PNG {chunk_type.decode()} chunk inflates past the limit of {limit:,} bytes", code="chunk_too_large"
        )
    return out


def text_of(chunk: Chunk, limit: int) -> bytes:
    """The text of a tEXt chunk, or of a zTXt/iTXt one (which some editors write when they re-save a
    card's picture), decompressed within `limit`."""
    body = bytes(chunk.data).partition(b"\0")[2]
    if chunk.type == b"tEXt":
        return body
    if chunk.type == b"zTXt":
        return _inflate(body[1:], limit, chunk.type)
    compressed, text = body[:1] == b"\1", body[2:]
    text = text.split(b"\0", 2)[-1]  # skip the language tag and the translated keyword
    return _inflate(text, limit, chunk.type) if compressed else text


def card_texts(png: bytes, *, max_text_chunk_bytes: int) -> dict[str, bytes]:
    """The card text chunks of a PNG: lower-cased keyword (`chara`, `ccv3`) -> raw text. The first chunk of
    each keyword counts, as in SillyTavern."""
    found: dict[str, bytes] = {}
    for chunk in iter_chunks(png, max_text_chunk_bytes=max_text_chunk_bytes):
        name = text_keyword(chunk)
        if name in CARD_KEYWORDS and name not in found:
            found[name] = text_of(chunk, max_text_chunk_bytes)
    return found


def embedded_assets(png: bytes, *, max_text_chunk_bytes: int) -> dict[str, bytes]:
    """The assets a PNG card carries in `chara-ext-asset_:<path>` chunks: path -> bytes (the first of each)."""
    assets: dict[str, bytes] = {}
    for chunk in iter_chunks(png, max_text_chunk_bytes=max_text_chunk_bytes):
        name = text_keyword(chunk)
        if name is None or not name.startswith(ASSET_KEYWORD):
            continue
        path = bytes(chunk.data).partition(b"\0")[0].decode("latin-1")[len(ASSET_KEYWORD) :]
        if path and path not in assets:
            compact = _WHITESPACE.sub(b"", text_of(chunk, max_text_chunk_bytes))
            try:
                assets[path] = base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(
                    f"the PNG asset chunk {path[:60]!r} is not valid base64", code="invalid_card"
                ) from None
    return assets


def decode_payload(keyword: str, text: bytes, *, max_json_bytes: int) -> str:
    """base64 -> UTF-8 text, strictly: anything else is a clear error naming the chunk."""
    compact = _WHITESPACE.sub(b"", text)
    if len(compact) > (max_json_bytes // 3 + 1) * 4:
        raise PayloadTooLarge(
            f"the {keyword} card is larger than the limit of {max_json_bytes:,} bytes", code="card_too_large"
        )
    try:
        raw = base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"the PNG {keyword!r} chunk is not valid base64", code="invalid_card") from None
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is not part of the JSON
    except UnicodeDecodeError:
        raise InvalidInput(f"the PNG {keyword!r} chunk is not UTF-8 text", code="invalid_card") from None


def card_text_from_png(png: bytes, *, max_json_bytes: int) -> tuple[str, str]:
    """(keyword, card JSON text) of the preferred card chunk (`ccv3` over `chara`)."""
    texts = card_texts(png, max_text_chunk_bytes=(max_json_bytes // 3 + 1) * 4 + 64)
    for keyword in CARD_KEYWORDS:
        if keyword in texts:
            return keyword, decode_payload(keyword, texts[keyword], max_json_bytes=max_json_bytes)
    raise InvalidInput("this PNG carries no character card (no `chara` or `ccv3` text chunk)", code="no_card")


def text_chunk(keyword: str, text: bytes) -> bytes:
    body = keyword.encode("latin-1") + b"\0" + text
    return struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)


def embed_card(png: bytes, cards: dict[str, bytes]) -> bytes:
    """`png` with its card chunks replaced by `cards` (keyword -> UTF-8 JSON), inserted before IEND."""
    out = bytearray(SIGNATURE)
    limit = len(png)  # our own image: no text-chunk cap needed beyond its size
    for chunk in iter_chunks(png, max_text_chunk_bytes=limit):
        if text_keyword(chunk) in CARD_KEYWORDS:
            continue
        if chunk.type == b"IEND":
            for keyword, payload in cards.items():
                out += text_chunk(keyword, base64.b64encode(payload))
        out += png[chunk.start : chunk.end]
    return bytes(out)
