"""Lorebook conversions (card book <-> World Info <-> lorebook_v3) and the lorebook API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.lore import convert
from bostonia.lore.schemas import LoreEntry
from tests.characters_support import CARD_ENTRY_DEFAULTS, LOREBOOKS, assert_kept, upload
from tests.helpers import bearer, error_of

ELDORIA = json.loads((LOREBOOKS / "Eldoria.json").read_text())
SKYREACH = json.loads((LOREBOOKS / "skyreach_v3.json").read_text())


def test_world_info_round_trips_unchanged() -> None:
    book = convert.book_from_world_info(ELDORIA, "Eldoria")
    assert book.name == "Eldoria" and len(book.entries) == 4
    assert convert.book_to_world_info(book) == ELDORIA


def test_card_book_round_trips_unchanged() -> None:
    book = convert.book_from_card(SKYREACH["data"])
    assert_kept(SKYREACH["data"], convert.book_to_card(book), additions=CARD_ENTRY_DEFAULTS)
    assert_kept(SKYREACH, convert.book_to_lorebook_v3(book), additions=CARD_ENTRY_DEFAULTS)
    # Exporting what we exported changes nothing more.
    again = convert.book_to_card(convert.book_from_card(convert.book_to_card(book)))
    assert again == convert.book_to_card(book)


def test_ids_keep_their_type() -> None:
    book = convert.book_from_card(SKYREACH["data"])
    assert [e.uid for e in book.entries] == [7, "captain"]


def test_query_columns_come_from_extensions() -> None:
    first, second = convert.book_from_card(SKYREACH["data"]).entries
    assert (first.depth, first.probability, first.match_whole_words, first.role) == (4, 100, True, "system")
    assert (second.depth, second.probability, second.role, second.placement) == (2, 80, "user", "at_depth")
    assert first.placement == "before_char" and first.constant and not second.enabled
    assert second.extra == {"x_unknown_entry_key": "kept"}


def test_world_info_fields_go_to_snake_case_extensions_in_a_card() -> None:
    wi = {
        "entries": {
            "3": {
                "uid": 3,
                "key": ["k"],
                "content": "c",
                "excludeRecursion": True,
                "matchWholeWords": False,
                "position": 4,
                "depth": 2,
                "useProbability": True,
                "caseSensitive": True,
                "automationId": "a1",
                "x_app": 1,
            }
        }
    }
    card = convert.book_to_card(convert.book_from_world_info(wi, "w"))
    entry = card["entries"][0]
    assert entry["extensions"] == {
        "exclude_recursion": True,
        "match_whole_words": False,
        "position": 4,
        "depth": 2,
        "useProbability": True,
        "case_sensitive": True,
        "automation_id": "a1",
    }
    assert entry["position"] == "after_char" and entry["x_app"] == 1 and entry["id"] == 3
    # ...and back to World Info camelCase.
    back = convert.book_to_world_info(convert.book_from_card(card))["entries"]["3"]
    assert {k: back[k] for k in wi["entries"]["3"]} == wi["entries"]["3"]


def test_card_book_to_world_info_and_back_to_card() -> None:
    book = convert.book_from_card(SKYREACH["data"])
    wi = convert.book_to_world_info(book)
    assert wi["entries"]["7"]["key"] == ["Skyreach", "floating city"]
    assert wi["entries"]["7"]["matchWholeWords"] is True and wi["entries"]["captain"]["disable"] is True
    again = convert.book_from_world_info(wi, "Skyreach lore")
    for before, after in zip(book.entries, again.entries, strict=True):
        assert (before.keys, before.content, before.enabled, before.insertion_order) == (
            after.keys,
            after.content,
            after.enabled,
            after.insertion_order,
        )
        # World Info always states a position (the card said before_char = 0) and caseSensitive (top-level).
        assert_kept(before.extensions, after.extensions, additions={"position": 0, "case_sensitive": False})


def test_bad_books_name_the_field() -> None:
    import pytest

    from bostonia.errors import InvalidInput

    for book, field in [
        ({"entries": "x"}, "character_book.entries"),
        ({"entries": [{"keys": "a", "content": 5}]}, "character_book.entries[0].content"),
        ({"entries": [{"keys": [1]}]}, "character_book.entries[0].keys"),
        ({"entries": [{"insertion_order": "first"}]}, "character_book.entries[0].insertion_order"),
        ({"entries": [{"enabled": "yes"}]}, "character_book.entries[0].enabled"),
        ({"entries": [{"insertion_order": "1e999"}]}, "character_book.entries[0].insertion_order"),
        ({"entries": [{"id": [1]}]}, "character_book.entries[0]"),
        ({"entries": [], "scan_depth": 2.5}, "character_book.scan_depth"),
    ]:
        with pytest.raises(InvalidInput) as info:
            convert.book_from_card(book)
        assert info.value.details == {"field": field}, book


def test_books_in_the_shapes_found_inside_real_cards() -> None:
    """Cards carry books other tools wrote: entries keyed by uid (World Info's shape), World Info entries
    (`key`, `keysecondary`, `disable`), or SillyTavern's numeric position in the card field."""
    wi_entry = {"uid": 3, "key": ["tower"], "keysecondary": [], "content": "A tall tower.", "disable": False}
    book = convert.book_from_card(
        {
            "entries": {
                "3": wi_entry,
                "4": {"keys": ["moat"], "content": "A wide moat.", "position": 1, "extensions": {"depth": 2}},
            }
        }
    )
    tower, moat = book.entries
    assert (tower.uid, tower.keys, tower.content, tower.enabled) == (3, ["tower"], "A tall tower.", True)
    assert (moat.keys, moat.position, moat.extensions) == (["moat"], "after_char", {"position": 1, "depth": 2})
    assert convert.book_from_card(convert.book_to_card(book)).entries == book.entries


def test_numbers_and_flags_written_as_text_read_as_sillytavern_reads_them() -> None:
    """Hand-edited and converted files write "100" and "true"; SillyTavern's JavaScript reads them as the
    number and the flag, and so does the import, down to what activation uses. Text that is no number
    is still an error naming the field."""
    from bostonia.errors import InvalidInput
    from tests.lore_support import compiled

    world = {
        "entries": {
            "0": {
                "uid": 0,
                "key": ["tower"],
                "content": "A tall tower.",
                "order": "250",
                "position": "4",
                "depth": "2",
                "probability": "40",
                "useProbability": "true",
                "sticky": "3",
                "scanDepth": " 5 ",
                "disable": "false",
            },
            "1": {"uid": 1, "key": ["moat"], "content": "A moat.", "position": "after_char"},
            "2": {"uid": 2, "key": ["gate"], "content": "A gate.", "position": "before_char"},
            "3": {"uid": 3, "key": ["wall"], "content": "A wall.", "position": "0"},
        }
    }
    book = convert.book_from_world_info(world, "Towers")
    tower = book.entries[0]
    assert (tower.insertion_order, tower.depth, tower.probability, tower.enabled) == (250, 2, 40, True)
    assert [e.placement for e in book.entries] == ["at_depth", "after_char", "before_char", "before_char"]
    (ready,) = compiled([tower])
    assert (ready.sticky, ready.scan_depth, ready.use_probability) == (3, 5, True)
    card = convert.book_from_card({"entries": [{"keys": ["a"], "insertion_order": "5", "enabled": "false"}]})
    assert (card.entries[0].insertion_order, card.entries[0].enabled) == (5, False)
    for entry, field in [({"order": "first"}, "order"), ({"position": "top"}, "position"), ({"order": "nan"}, "order")]:
        with pytest.raises(InvalidInput) as info:
            convert.book_from_world_info({"entries": {"0": {"uid": 0, **entry}}}, "x")
        assert info.value.details == {"field": f"entries['0'].{field}"}


def test_placement_defaults() -> None:
    assert LoreEntry(position="after_char").placement == "after_char"
    assert LoreEntry(extensions={"position": 6}).placement == "em_bottom"


# -- API ------------------------------------------------------------------------------------------------------


def test_import_list_get_and_export_a_world_info_book(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    response = upload(client, [("Eldoria.json", (LOREBOOKS / "Eldoria.json").read_bytes())], bearer(alice))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["items"] == [] and body["lorebooks"][0]["entry_count"] == 4
    book_id = body["lorebooks"][0]["id"]
    listed = client.get("/api/v1/lorebooks", headers=bearer(alice)).json()["items"]
    assert [b["id"] for b in listed] == [book_id] and listed[0]["name"] == "Eldoria"
    book = client.get(f"/api/v1/lorebooks/{book_id}", headers=bearer(alice)).json()
    assert book["entries"][1]["keys"] == ["shadowfang", "beast", "monster", "monsters", "beasts"]
    exported = client.get(f"/api/v1/lorebooks/{book_id}/export", headers=bearer(alice))
    assert exported.json() == ELDORIA
    assert 'filename="Eldoria.json"' in exported.headers["content-disposition"]
    v3 = client.get(f"/api/v1/lorebooks/{book_id}/export?format=lorebook_v3", headers=bearer(alice)).json()
    assert v3["spec"] == "lorebook_v3" and len(v3["data"]["entries"]) == 4
    # Someone else's book does not exist for them.
    assert client.get("/api/v1/lorebooks", headers=bearer(bob)).json()["items"] == []
    other = client.get(f"/api/v1/lorebooks/{book_id}", headers=bearer(bob))
    assert other.status_code == 404 and error_of(other)["code"] == "not_found"
    assert client.get(f"/api/v1/lorebooks/{book_id}").status_code == 401
    assert client.delete(f"/api/v1/lorebooks/{book_id}", headers=bearer(bob)).status_code == 404
    assert client.delete(f"/api/v1/lorebooks/{book_id}", headers=bearer(alice)).status_code == 204
    assert client.get(f"/api/v1/lorebooks/{book_id}", headers=bearer(alice)).status_code == 404


FOREIGN_BOOKS = {
    "novelai": {
        "lorebookVersion": 5,
        "entries": [
            {
                "text": "The tower is haunted.",
                "keys": ["tower", "spire"],
                "displayName": "Tower",
                "enabled": True,
                "contextConfig": {"budgetPriority": 400},
                "searchRange": 1000,
            },
            {"text": "An old tale.", "keys": ["tale"], "displayName": "", "enabled": False},
        ],
        "settings": {"orderByKeyLocations": False},
        "categories": [],
    },
    "agnai": {
        "kind": "memory",
        "name": "Valley lore",
        "description": "Notes.",
        "entries": [
            {
                "name": "Tower",
                "entry": "The tower is haunted.",
                "keywords": ["tower", "spire"],
                "priority": 1,
                "weight": 400,
                "enabled": True,
            },
            {"name": "", "entry": "An old tale.", "keywords": ["tale"], "priority": 0, "weight": 0, "enabled": False},
        ],
    },
    "risu": {
        "type": "risu",
        "ver": 1,
        "data": [
            {
                "key": "tower, spire",
                "secondkey": "",
                "content": "The tower is haunted.",
                "comment": "Tower",
                "insertorder": 400,
                "alwaysActive": False,
                "selective": False,
                "mode": "normal",
            },
            {
                "key": "tale",
                "secondkey": "night",
                "content": "An old tale.",
                "comment": "",
                "insertorder": 0,
                "alwaysActive": True,
                "selective": True,
                "mode": "normal",
            },
        ],
    },
}


@pytest.mark.parametrize("fmt", list(FOREIGN_BOOKS))
def test_novelai_agnai_and_risu_books_import_as_sillytavern_reads_them(
    client: TestClient[Any], alice: dict[str, Any], fmt: str
) -> None:
    response = upload(client, [("book.json", json.dumps(FOREIGN_BOOKS[fmt]).encode())], bearer(alice))
    assert response.status_code == 201, response.text
    (imported,) = response.json()["lorebooks"]
    assert imported["entry_count"] == 2
    book = client.get(f"/api/v1/lorebooks/{imported['id']}", headers=bearer(alice)).json()
    tower, tale = book["entries"]
    assert (tower["keys"], tower["content"], tower["comment"], tower["enabled"]) == (
        ["tower", "spire"],
        "The tower is haunted.",
        "Tower",
        True,
    )
    assert tower["insertion_order"] == 400 and tale["content"] == "An old tale."
    if fmt == "risu":  # always active, and its second key
        assert tale["constant"] is True and tale["secondary_keys"] == ["night"] and tale["enabled"] is True
    else:
        assert tale["enabled"] is False
    if fmt == "agnai":
        assert book["name"] == "Valley lore"


def test_world_info_entries_written_as_a_list_import_as_world_info(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    book = {
        "name": "Listed",
        "entries": [
            {"uid": 0, "key": ["tower", "spire"], "keysecondary": [], "content": "The tower is haunted.", "order": 400},
            {"uid": 1, "key": "tale, night", "content": "An old tale.", "disable": True},
        ],
    }
    response = upload(client, [("listed.json", json.dumps(book).encode())], bearer(alice))
    assert response.status_code == 201, response.text
    (imported,) = response.json()["lorebooks"]
    tower, tale = client.get(f"/api/v1/lorebooks/{imported['id']}", headers=bearer(alice)).json()["entries"]
    assert (tower["keys"], tower["insertion_order"], tower["enabled"]) == (["tower", "spire"], 400, True)
    assert (tale["keys"], tale["enabled"]) == (["tale", "night"], False)


def test_lorebook_v3_import_round_trips(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = upload(client, [("sky.json", (LOREBOOKS / "skyreach_v3.json").read_bytes())], bearer(alice))
    book_id = response.json()["lorebooks"][0]["id"]
    exported = client.get(f"/api/v1/lorebooks/{book_id}/export?format=lorebook_v3", headers=bearer(alice)).json()
    assert_kept(SKYREACH, exported, additions=CARD_ENTRY_DEFAULTS)
