from __future__ import annotations

import json

import pytest

from bostonia.cards.charx import CharxLimits
from bostonia.cards.reader import CardFile, CardLimits, LorebookFile, read_card_file
from bostonia.errors import InvalidInput, PayloadTooLarge
from tests.characters_support import ALL_CARDS, LOREBOOKS

LIMITS = CardLimits(
    max_card_bytes=2 * 1024 * 1024,
    max_card_json_bytes=1024 * 1024,
    charx=CharxLimits(10 * 1024 * 1024, 100, 100, 1024 * 1024),
)


@pytest.mark.parametrize("path", ALL_CARDS, ids=lambda p: p.name)
def test_every_fixture_card_is_recognised_by_content(path) -> None:  # type: ignore[no-untyped-def]
    # The name is deliberately wrong: the content decides.
    parsed = read_card_file("misleading.txt", path.read_bytes(), LIMITS)
    assert isinstance(parsed, CardFile) and parsed.card.name
    assert parsed.format == {".png": "png", ".json": "json", ".charx": "charx"}[path.suffix]
    if parsed.format != "json":
        assert parsed.image is not None and parsed.image.startswith(b"\x89PNG")


def test_lorebook_files_are_recognised() -> None:
    world = read_card_file("Eldoria.json", (LOREBOOKS / "Eldoria.json").read_bytes(), LIMITS)
    assert isinstance(world, LorebookFile) and world.format == "world_info" and world.name == "Eldoria"
    v3 = read_card_file("x.json", (LOREBOOKS / "skyreach_v3.json").read_bytes(), LIMITS)
    assert isinstance(v3, LorebookFile) and v3.format == "lorebook_v3"
    bare = read_card_file("b.json", json.dumps({"entries": []}).encode(), LIMITS)
    assert isinstance(bare, LorebookFile) and bare.format == "character_book"


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"", "empty_file", "empty"),
        (b"<html><script>alert(1)</script></html>", "unsupported_file_type", "HTML document"),
        (b"\xff\xd8\xff\xe0JFIF plain jpeg", "unsupported_file_type", "JPEG image"),
        (b"hello world", "unsupported_file_type", "plain text"),
        (b'{"name": "x",', "invalid_json", "not valid JSON"),
        (b"[1, 2]", "invalid_card", "must hold an object"),
        (b'{"name": "\xff\xfe"}', "invalid_json", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "nested too deeply"),
    ],
)
def test_bad_files_are_named(data: bytes, code: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        read_card_file("f", data, LIMITS)
    assert info.value.code == code


def test_size_caps() -> None:
    with pytest.raises(PayloadTooLarge, match="limit for a card file"):
        read_card_file("big.png", b"\x89PNG" + b"\0" * (3 * 1024 * 1024), LIMITS)
    with pytest.raises(PayloadTooLarge, match="JSON file"):
        read_card_file("big.json", b'{"name": "' + b"a" * (1024 * 1024 + 10) + b'"}', LIMITS)
