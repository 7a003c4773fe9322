"""Property tests over the card parsers: whatever the bytes, the answer is a card or a domain error naming
the problem (a clean 4xx), never a crash; and a parsed card survives its own export."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bostonia.cards.charx import CharxLimits
from bostonia.cards.model import card_json, parse_card
from bostonia.cards.reader import CardFile, CardLimits, read_card_file
from bostonia.characters.media import ImageLimits, process_image
from bostonia.errors import BostoniaError
from bostonia.lore import convert
from tests.characters_support import ALL_CARDS, LOREBOOKS

LIMITS = CardLimits(
    max_card_bytes=2 * 1024 * 1024,
    max_card_json_bytes=512 * 1024,
    charx=CharxLimits(8 * 1024 * 1024, 100, 200, 512 * 1024),
)
SEEDS = [p.read_bytes() for p in ALL_CARDS if p.stat().st_size < 100_000] + [
    p.read_bytes() for p in LOREBOOKS.glob("*.json")
]
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
CARD_KEYS = [
    "name",
    "description",
    "first_mes",
    "tags",
    "alternate_greetings",
    "extensions",
    "character_book",
    "group_only_greetings",
    "assets",
    "nickname",
    "creation_date",
    "spec",
    "data",
    "entries",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real card file with a few bytes flipped, cut short, or with garbage spliced in."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=32))
    return bytes(data)


def read_or_refuse(data: bytes) -> CardFile | None:
    try:
        parsed = read_card_file("fuzz", data, LIMITS)
    except BostoniaError as exc:
        assert exc.message and exc.code
        return None
    if isinstance(parsed, CardFile):
        if parsed.card.character_book is not None:
            with contextlib.suppress(BostoniaError):
                convert.book_from_card(parsed.card.character_book)
        return parsed
    return None


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    read_or_refuse(data)


@FAST
@given(mutated())
def test_damaged_real_cards_never_crash(data: bytes) -> None:
    parsed = read_or_refuse(data)
    if parsed is not None and parsed.image is not None:
        with contextlib.suppress(BostoniaError):
            process_image(parsed.image, ImageLimits(4 * 1024 * 1024, 4_000_000))


@FAST
@given(st.dictionaries(st.sampled_from(CARD_KEYS), json_values, max_size=8), st.sampled_from([None, "v2", "v3"]))
def test_any_json_shape_is_a_card_or_a_named_error(data: dict[str, Any], wrap: str | None) -> None:
    obj: Any = data if wrap is None else {"spec": f"chara_card_{wrap}", "data": data}
    try:
        card = parse_card(obj)
    except BostoniaError as exc:
        assert exc.code == "invalid_card"
        return
    again = parse_card(card_json(card, "v3"))
    fields = ("name", "extensions", "extra", "tags", "character_book", "alternate_greetings")
    assert [getattr(again, f) for f in fields] == [getattr(card, f) for f in fields]


@FAST
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "keys",
                    "content",
                    "enabled",
                    "id",
                    "insertion_order",
                    "position",
                    "extensions",
                    "secondary_keys",
                    "priority",
                    "x",
                ]
            ),
            json_values,
            max_size=6,
        ),
        max_size=4,
    )
)
def test_any_lorebook_shape_converts_or_names_the_field(entries: list[dict[str, Any]]) -> None:
    try:
        book = convert.book_from_card({"entries": entries})
    except BostoniaError as exc:
        assert exc.code == "invalid_lorebook" and exc.details["field"].startswith("character_book")
        return
    again = convert.book_from_card(convert.book_to_card(book))
    assert [(e.keys, e.content, e.uid, e.extensions, e.extra) for e in again.entries] == [
        (e.keys, e.content, e.uid, e.extensions, e.extra) for e in book.entries
    ]
    convert.book_from_world_info(convert.book_to_world_info(book), "w")
