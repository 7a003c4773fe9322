from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from bostonia.cards import png
from bostonia.errors import InvalidInput, PayloadTooLarge
from tests.characters_support import REAL_CARDS, card_bytes, png_text_chunks

LIMIT = 8 * 1024 * 1024


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def tiny_png(*extra: bytes) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0\xff\0\0"))
    return png.SIGNATURE + ihdr + b"".join(extra) + idat + chunk(b"IEND", b"")


def text(keyword: str, payload: bytes) -> bytes:
    return chunk(b"tEXt", keyword.encode() + b"\0" + payload)


@pytest.mark.parametrize("path", REAL_CARDS, ids=lambda p: p.name)
def test_real_sillytavern_cards_are_read(path) -> None:  # type: ignore[no-untyped-def]
    keyword, text_json = png.card_text_from_png(path.read_bytes(), max_json_bytes=LIMIT)
    assert keyword == "chara" and json.loads(text_json)["spec"] == "chara_card_v2"


def test_ccv3_is_preferred_over_chara() -> None:
    keyword, text_json = png.card_text_from_png(card_bytes("v3_aria.png"), max_json_bytes=LIMIT)
    assert keyword == "ccv3" and json.loads(text_json)["data"]["name"] == "Aria Windsong"


def test_keyword_match_is_case_insensitive() -> None:
    data = tiny_png(text("CCV3", base64.b64encode(b'{"name": "Loud"}')))
    assert png.card_text_from_png(data, max_json_bytes=LIMIT) == ("ccv3", '{"name": "Loud"}')


def test_embed_writes_both_chunks_before_iend_and_replaces_old_ones() -> None:
    original = tiny_png(text("chara", base64.b64encode(b'{"old": 1}')), text("Comment", b"keep me"))
    out = png.embed_card(original, {"chara": b'{"v": 2}', "ccv3": b'{"v": 3}'})
    chunks = png_text_chunks(out)  # checks every CRC independently
    assert base64.b64decode(chunks["chara"]) == b'{"v": 2}' and base64.b64decode(chunks["ccv3"]) == b'{"v": 3}'
    assert chunks["comment"] == b"keep me"
    assert chunks["__order__"].endswith(b"IDAT,tEXt,tEXt,IEND")
    assert chunks["__order__"].count(b"tEXt") == 3  # the old chara chunk is gone


def test_unicode_cards_survive() -> None:
    card = json.dumps({"name": "Zoë 日本 🐉"}, ensure_ascii=False).encode()
    out = png.embed_card(tiny_png(), {"ccv3": card})
    assert json.loads(png.card_text_from_png(out, max_json_bytes=LIMIT)[1])["name"] == "Zoë 日本 🐉"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 20, "bad signature"),
        (card_bytes("default_CodingSensei.png")[:5000], "truncated"),
        (tiny_png()[:-12], "truncated"),
        (png.SIGNATURE + chunk(b"IDAT", b"x") + chunk(b"IEND", b""), "first chunk is not IHDR"),
        (png.SIGNATURE + b"\0\0\0\x01IH!R" + b"x" * 8, "invalid chunk type"),
    ],
)
def test_corrupt_pngs_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        png.card_text_from_png(data, max_json_bytes=LIMIT)


def test_wrong_crc_is_rejected() -> None:
    data = bytearray(tiny_png(text("chara", base64.b64encode(b"{}"))))
    data[-20] ^= 0xFF  # inside the IDAT chunk's CRC or data
    with pytest.raises(InvalidInput, match="wrong CRC"):
        png.card_text_from_png(bytes(data), max_json_bytes=LIMIT)


def test_a_50mb_text_chunk_is_refused_before_reading_it() -> None:
    # The length field claims 50 MB; the refusal comes from the header alone.
    header = struct.pack(">I", 50 * 1024 * 1024) + b"tEXt" + b"chara\0"
    data = tiny_png()[:33] + header + b"A" * 1000
    with pytest.raises(PayloadTooLarge, match="chunk of 52,428,800 bytes"):
        png.card_text_from_png(data, max_json_bytes=LIMIT)


def test_endless_empty_chunks_are_cut_short() -> None:
    data = tiny_png()[:33] + chunk(b"teXt", b"") * (png.MAX_CHUNKS + 1) + chunk(b"IEND", b"")
    with pytest.raises(InvalidInput, match="more than 50,000 chunks"):
        png.card_text_from_png(data, max_json_bytes=LIMIT)


def test_payload_must_be_base64_then_utf8() -> None:
    with pytest.raises(InvalidInput, match="not valid base64"):
        png.card_text_from_png(tiny_png(text("chara", b"{not base64!}")), max_json_bytes=LIMIT)
    with pytest.raises(InvalidInput, match="not UTF-8"):
        png.card_text_from_png(tiny_png(text("chara", base64.b64encode(b"\xff\xfe\xfa"))), max_json_bytes=LIMIT)


def test_png_without_a_card() -> None:
    with pytest.raises(InvalidInput, match="no `chara` or `ccv3`") as info:
        png.card_text_from_png(tiny_png(), max_json_bytes=LIMIT)
    assert info.value.code == "no_card"


def test_payload_over_the_json_limit() -> None:
    big = base64.b64encode(b"x" * 5000)
    with pytest.raises(PayloadTooLarge):
        png.card_text_from_png(tiny_png(text("chara", big)), max_json_bytes=1000)


CARD = json.dumps({"spec": "chara_card_v2", "data": {"name": "Zed"}}).encode()


def test_cards_in_compressed_and_international_text_chunks_are_read() -> None:
    """Some editors re-save a card's picture with zTXt/iTXt chunks; the card must still be found."""
    payload = base64.b64encode(CARD)
    ztxt = chunk(b"zTXt", b"chara\0\0" + zlib.compress(payload))
    itxt_plain = chunk(b"iTXt", b"chara\0\0\0en\0\0" + payload)
    itxt_packed = chunk(b"iTXt", b"ccv3\0\1\0\0\0" + zlib.compress(payload))
    for image in (tiny_png(ztxt), tiny_png(itxt_plain), tiny_png(itxt_packed)):
        keyword, text_json = png.card_text_from_png(image, max_json_bytes=LIMIT)
        assert json.loads(text_json)["data"]["name"] == "Zed", keyword


def test_a_compressed_chunk_bomb_is_refused() -> None:
    bomb = chunk(b"zTXt", b"chara\0\0" + zlib.compress(b"A" * (LIMIT * 2)))
    with pytest.raises(PayloadTooLarge):
        png.card_text_from_png(tiny_png(bomb), max_json_bytes=LIMIT // 2)
    with pytest.raises(InvalidInput, match="does not decompress"):
        png.card_text_from_png(tiny_png(chunk(b"zTXt", b"chara\0\0not zlib")), max_json_bytes=LIMIT)


def test_a_byte_order_mark_before_the_json_is_ignored() -> None:
    image = tiny_png(text("chara", base64.b64encode(b"\xef\xbb\xbf" + CARD)))
    assert json.loads(png.card_text_from_png(image, max_json_bytes=LIMIT)[1])["data"]["name"] == "Zed"


def test_export_replaces_compressed_card_chunks_too() -> None:
    old = chunk(b"zTXt", b"chara\0\0" + zlib.compress(base64.b64encode(CARD)))
    written = png.embed_card(tiny_png(old), {"chara": b'{"name": "New"}'})
    assert b"zTXt" not in written
    assert png.card_text_from_png(written, max_json_bytes=LIMIT)[1] == '{"name": "New"}'
