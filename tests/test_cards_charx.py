from __future__ import annotations

import io
import json
import zipfile

import pytest

from bostonia.cards.charx import CharxLimits, asset_path, read_charx, safe_name, write_charx
from bostonia.errors import InvalidInput, PayloadTooLarge
from tests.characters_support import card_bytes

LIMITS = CharxLimits(
    max_uncompressed_bytes=10 * 1024 * 1024, max_ratio=100, max_entries=50, max_card_json_bytes=1024 * 1024
)


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_fixture_with_leading_bytes_is_read_with_all_assets() -> None:
    data = card_bytes("v3_bram.charx")
    assert not data.startswith(b"PK")
    contents = read_charx(data, LIMITS)
    assert json.loads(contents.card_text)["data"]["name"] == "Bram Stonehollow"
    assert set(contents.assets) == {
        "assets/icon/images/main.png",
        "assets/emotion/images/happy.png",
        "assets/other/audio/clink.ogg",
        "x_meta/main.json",
        "module.risum",
    }


def test_write_then_read() -> None:
    data = write_charx(b'{"spec": "chara_card_v3"}', {"assets/a.png": b"png", "module.risum": b"\0"})
    contents = read_charx(data, LIMITS)
    assert contents.card_text == '{"spec": "chara_card_v3"}' and contents.assets["module.risum"] == b"\0"


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "a/../../b", "C:/win.ini", "a\\..\\b", "./x"])
def test_path_traversal_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a safe relative path"):
        read_charx(make_zip({"card.json": b"{}", name: b"x"}), LIMITS)
    with pytest.raises(InvalidInput):
        safe_name(name)


def test_zip_bomb_by_ratio() -> None:
    bomb = make_zip({"card.json": b"{}", "bomb.bin": b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(PayloadTooLarge, match="compression ratio"):
        read_charx(bomb, LIMITS)


def test_zip_bomb_by_total_size() -> None:
    small = LIMITS._replace(max_uncompressed_bytes=1000)
    with pytest.raises(PayloadTooLarge, match="unpacks to"):
        read_charx(make_zip({"card.json": b"{}", "a.bin": b"x" * 2000}, zipfile.ZIP_STORED), small)


def test_too_many_entries() -> None:
    files = {"card.json": b"{}", **{f"f{i}.txt": b"x" for i in range(60)}}
    with pytest.raises(PayloadTooLarge, match="entries"):
        read_charx(make_zip(files), LIMITS)


def test_missing_card_json_and_garbage() -> None:
    with pytest.raises(InvalidInput, match=r"no card\.json"):
        read_charx(make_zip({"other.json": b"{}"}), LIMITS)
    with pytest.raises(InvalidInput, match="corrupt CharX"):
        read_charx(b"PK\x03\x04garbage", LIMITS)
    truncated = make_zip({"card.json": b"{}" * 100})
    with pytest.raises(InvalidInput, match="corrupt CharX"):
        read_charx(truncated[: len(truncated) // 2], LIMITS)


def test_card_json_must_be_utf8() -> None:
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_charx(make_zip({"card.json": b"\xff\xfe{"}), LIMITS)


def test_asset_uri_prefixes() -> None:
    assert asset_path("embeded://assets/a.png") == "assets/a.png"
    assert asset_path("embedded://assets/a.png") == "assets/a.png"
    assert asset_path("__asset:3") == "3"
    assert asset_path("ccdefault:") is None and asset_path("https://x/y.png") is None
