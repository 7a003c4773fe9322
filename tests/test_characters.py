from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.cards.model import parse_card
from tests.conftest import bearer, error_of


def test_bundled_characters_are_listed_with_full_cards(client: TestClient[Any]) -> None:
    items = client.get("/api/v1/characters").json()["items"]
    assert len(items) >= 3
    for character in items:
        assert character["is_bundled"] and character["visibility"] == "public"
        assert character["greeting"] and character["personality"] and character["scenario"]
        assert "<START>" in character["example_dialogue"]
        assert character["tags"]


def test_get_one_character(client: TestClient[Any]) -> None:
    first = client.get("/api/v1/characters").json()["items"][0]
    response = client.get(f"/api/v1/characters/{first['id']}")
    assert response.status_code == 200 and response.json() == first


def test_unknown_character_is_404(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/characters/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_private_and_mature_characters_are_hidden(
    client: TestClient[Any], services: Services, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    card = parse_card({"name": "Secret", "first_mes": "hi"})
    store = services.characters.characters
    with client.portal() as portal:
        portal.call(lambda: store.create_from_card("private-1", card, creator_id=alice["user"]["id"]))
        portal.call(
            lambda: store.create_from_card(
                "mature-1", card, creator_id=alice["user"]["id"], visibility="public", content_tier="mature"
            )
        )

    def ids_for(who: dict[str, Any]) -> set[str]:
        return {c["id"] for c in client.get("/api/v1/characters", headers=bearer(who)).json()["items"]}

    assert "private-1" in ids_for(alice)
    assert "private-1" not in ids_for(bob)
    assert "mature-1" not in ids_for(bob)  # bob has not verified his age
    assert client.get("/api/v1/characters/mature-1", headers=bearer(bob)).status_code == 404
    assert client.get("/api/v1/characters/private-1", headers=bearer(bob)).status_code == 404
    assert client.get("/api/v1/characters/private-1").status_code == 404
    assert client.get("/api/v1/characters/private-1", headers=bearer(alice)).status_code == 200
