from __future__ import annotations

import json

import pytest

from bostonia.cards.model import V1_FIELDS, CharacterCard, card_json, parse_card
from bostonia.errors import InvalidInput
from tests.characters_support import CARDS, card_bytes, card_in_png


def test_v1_flat_card_keeps_unknown_keys() -> None:
    card = parse_card(json.loads((CARDS / "v1_mira.json").read_text()))
    assert card.spec == "chara_card_v1" and card.name == "Mira Quill"
    assert card.first_mes == "Shh... welcome, <USER>." and "<START>" in card.mes_example
    assert card.extra == {"x_v1_extra": "kept"}


def test_v2_real_card_keeps_top_level_sillytavern_fields() -> None:
    raw = card_in_png(card_bytes("default_FluxTheCat.png"), "chara")
    card = parse_card(raw)
    assert card.spec == "chara_card_v2" and card.creator == "@kallmeflocc on Discord"
    assert card.extensions == {"talkativeness": "0.5", "fav": False, "world": ""}
    # Top-level extras kept; V1 copies equal to data are not stored twice; differing ones (tags "") are kept.
    assert card.top_level["creatorcomment"].startswith("ST Default Bot")
    assert card.top_level["tags"] == "" and card.top_level["creator"] == ""
    assert "description" not in card.top_level and "chat" in card.top_level
    again = card_json(card, "v2")
    for key, value in raw.items():
        if key != "data":
            assert again[key] == value, key
    assert {k: again["data"][k] for k in raw["data"]} == raw["data"]


def test_a_pygmalion_character_reads_as_its_card_fields() -> None:
    card = parse_card(
        {
            "char_name": "Aria",
            "char_persona": "A charming rogue with a silver tongue.",
            "world_scenario": "A tavern at the edge of the map.",
            "char_greeting": "*raises her glass* Well, well.",
            "example_dialogue": "<START>\nYou: Hi\nAria: Hello, darling.",
            "metadata": {"version": 1, "created": 1680000000000, "source": None},
        }
    )
    assert card.spec == "chara_card_v1" and card.name == "Aria"
    assert card.description.startswith("A charming rogue") and card.scenario.startswith("A tavern")
    assert card.first_mes == "*raises her glass* Well, well." and card.mes_example.startswith("<START>")
    assert card.extra == {"metadata": {"version": 1, "created": 1680000000000, "source": None}}


def test_a_v2_field_written_only_at_the_top_level_is_read_there() -> None:
    card = parse_card(
        {
            "spec": "chara_card_v2",
            "name": "Aria",
            "first_mes": "Hello.",
            "data": {"description": "A rogue.", "first_mes": "Hi from data."},
        }
    )
    assert card.name == "Aria" and card.description == "A rogue."
    assert card.first_mes == "Hi from data."  # data wins where both have it ...
    assert card.top_level == {"first_mes": "Hello."}  # ... and the differing top-level copy is kept


def test_v3_card_fields_and_extras() -> None:
    raw = card_in_png(card_bytes("v3_aria.png"), "ccv3")
    card = parse_card(raw)
    assert card.spec == "chara_card_v3" and card.spec_version == "3.0"
    assert card.extra["nickname"] == "Ari" and card.extra["group_only_greetings"] == ["Hello, everyone!"]
    assert card.extra["x_app_key"] == {"keep": "me"} and card.character_book is not None
    assert card_json(card, "v3")["data"] == raw["data"]


def test_card_json_copies_v1_fields_to_the_top_and_requires_group_greetings() -> None:
    card = CharacterCard(name="Solo", first_mes="Hi")
    v2, v3 = card_json(card, "v2"), card_json(card, "v3")
    assert v2["spec"] == "chara_card_v2" and v2["spec_version"] == "2.0"
    assert v3["spec"] == "chara_card_v3" and v3["spec_version"] == "3.0"
    assert v2["data"] == v3["data"] and v3["data"]["group_only_greetings"] == []
    assert all(v3[key] == v3["data"][key] for key in V1_FIELDS)


def test_newer_spec_version_is_accepted() -> None:
    card = parse_card({"spec": "chara_card_v3", "spec_version": "3.5", "data": {"name": "Later"}})
    assert card.spec_version == "3.5"


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"spec": "chara_card_v2", "data": {"name": 5}}, "name"),
        ({"spec": "chara_card_v2", "data": {"name": "x", "description": ["a"]}}, "description"),
        ({"spec": "chara_card_v2", "data": {"name": "x", "tags": [1, 2]}}, "tags"),
        ({"spec": "chara_card_v2", "data": {"name": "x", "extensions": []}}, "extensions"),
        ({"spec": "chara_card_v2", "data": {"name": "x", "character_book": "no"}}, "character_book"),
        ({"spec": "chara_card_v3", "data": {"name": "x", "group_only_greetings": "hi"}}, "group_only_greetings"),
        ({"spec": "chara_card_v3", "data": {"name": "x", "assets": [{"uri": 3}]}}, "assets"),
        ({"spec": "chara_card_v3", "data": {"name": "x", "creation_date": "yesterday"}}, "creation_date"),
        ({"spec": "chara_card_v2", "data": {"name": "   "}}, "name"),
        ({"spec": "chara_card_v2", "data": []}, "data"),
        ({"spec": "chara_card_v9", "data": {"name": "x"}}, "spec"),
    ],
)
def test_wrong_types_are_named(card: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_card(card)
    assert info.value.code == "invalid_card" and info.value.details == {"field": field}


def test_numbers_in_text_fields_read_as_their_text() -> None:
    card = parse_card({"spec": "chara_card_v2", "data": {"name": "x", "character_version": 1.2}})
    assert card.character_version == "1.2"


def test_comma_separated_tags_are_split() -> None:
    assert parse_card({"name": "x", "tags": "a, b,, c"}).tags == ["a", "b", "c"]
