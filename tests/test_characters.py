from __future__ import annotations

import time
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.cards.model import parse_card
from tests.helpers import bearer, error_of, register


@pytest.fixture
def carol(client: TestClient[Any], bob: dict[str, Any]) -> dict[str, Any]:
    return register(client, "carol@example.com", name="Carol")


def create(client: TestClient[Any], account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/characters", json={"name": "Someone", **fields}, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


# -- the bundled catalogue -----------------------------------------------------------------------------------


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


# -- create, update, delete ---------------------------------------------------------------------------------------


def test_create_with_every_field(client: TestClient[Any], bob: dict[str, Any]) -> None:
    book = {
        "name": "Lore",
        "extensions": {"k": 1},
        "entries": [
            {
                "keys": ["moon"],
                "content": "The moon is green.",
                "extensions": {"depth": 3},
                "enabled": True,
                "insertion_order": 5,
                "use_regex": False,
            }
        ],
    }
    character = create(
        client,
        bob,
        name="Luna",
        tagline="Moon keeper",
        description="{{char}} keeps the moon.",
        personality="calm",
        scenario="Night.",
        greeting="Hello {{user}}",
        example_dialogue="<START>\n{{user}}: hi",
        system_prompt="sys",
        post_history_instructions="phi",
        creator_notes="notes",
        creator_name="Bob",
        character_version="2",
        nickname="Lu",
        alternate_greetings=["Hey", "Yo"],
        group_only_greetings=["Hi all"],
        tags=["space", "calm"],
        visibility="unlisted",
        content_tier="sfw",
        is_premium=True,
        premium_credits=3,
        settings={"temperature": 0.7, "top_k": 20},
        extensions={"app": {"x": 1}},
        card_extra={"source": ["a"]},
        character_book=book,
    )
    assert character["creator_id"] == bob["user"]["id"] and character["visibility"] == "unlisted"
    assert character["nickname"] == "Lu" and character["group_only_greetings"] == ["Hi all"]
    assert character["card_extra"] == {"source": ["a"]} and character["settings"] == {"temperature": 0.7, "top_k": 20}
    assert character["tags"] == ["space", "calm"] and character["alternate_greetings"] == ["Hey", "Yo"]
    assert character["is_premium"] and character["premium_credits"] == 3 and character["lorebook_id"]
    entries = client.get(f"/api/v1/lorebooks/{character['lorebook_id']}", headers=bearer(bob)).json()["entries"]
    assert entries[0]["keys"] == ["moon"] and entries[0]["depth"] == 3


def test_default_is_private_and_tagline_is_derived(client: TestClient[Any], bob: dict[str, Any]) -> None:
    character = create(client, bob, creator_notes="First line\nsecond")
    assert character["visibility"] == "private" and character["tagline"] == "First line"


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "visibility": "secret"},
        {"name": "x", "content_tier": "xxx"},
        {"name": "x", "premium_credits": -1},
        {"name": "x", "tags": [""]},
        {"name": "x", "unknown": 1},
    ],
)
def test_invalid_fields_are_400(client: TestClient[Any], bob: dict[str, Any], body: dict[str, Any]) -> None:
    response = client.post("/api/v1/characters", json=body, headers=bearer(bob))
    assert response.status_code == 400 and error_of(response)["code"] == "validation_error"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x", "settings": {"temperature": 9}}, "settings"),
        ({"name": "x", "settings": {"top_p": 1.5}}, "settings"),
        ({"name": "x", "settings": {"seed": 1}}, "settings"),
        ({"name": "x", "settings": {"max_tokens": 0}}, "settings"),
        ({"name": "x", "settings": {"top_k": "many"}}, "settings"),
        ({"name": "x", "card_extra": {"name": "other"}}, "card_extra"),
        ({"name": "x", "card_extra": {"source": "not a list"}}, "source"),
        (
            {"name": "x", "character_book": {"entries": [{"keys": "k", "content": 1}]}},
            "character_book.entries[0].content",
        ),
    ],
)
def test_invalid_card_content_is_422(client: TestClient[Any], bob: dict[str, Any], body: dict, field: str) -> None:
    response = client.post("/api/v1/characters", json=body, headers=bearer(bob))
    assert response.status_code == 422 and error_of(response)["details"]["field"] == field


def test_creating_needs_an_account(client: TestClient[Any]) -> None:
    assert client.post("/api/v1/characters", json={"name": "x"}).status_code == 401


def test_patch_changes_only_what_is_sent(client: TestClient[Any], bob: dict[str, Any]) -> None:
    character = create(
        client,
        bob,
        description="old",
        tags=["a"],
        nickname="N",
        card_extra={"source": ["s"]},
        character_book={"entries": [{"keys": ["k"], "content": "c"}]},
    )
    url = f"/api/v1/characters/{character['id']}"
    updated = client.patch(
        url, json={"description": "new", "tags": ["b", "c"], "settings": {"min_p": 0.1}}, headers=bearer(bob)
    ).json()
    assert updated["description"] == "new" and updated["tags"] == ["b", "c"] and updated["settings"] == {"min_p": 0.1}
    assert updated["name"] == "Someone" and updated["nickname"] == "N" and updated["card_extra"] == {"source": ["s"]}
    assert updated["lorebook_id"] == character["lorebook_id"]
    cleared = client.patch(url, json={"nickname": "", "character_book": None}, headers=bearer(bob)).json()
    assert cleared["nickname"] == "" and cleared["lorebook_id"] is None and cleared["card_extra"] == {"source": ["s"]}
    bad = client.patch(url, json={"settings": {"temperature": -1}}, headers=bearer(bob))
    assert bad.status_code == 422 and error_of(bad)["details"] == {"field": "settings"}


def test_only_the_creator_or_an_admin_edits_and_deletes(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], carol: dict[str, Any]
) -> None:
    public = create(client, bob, visibility="public")
    private = create(client, bob)
    for character, status in ((public, 403), (private, 404)):  # someone else's private one does not exist
        url = f"/api/v1/characters/{character['id']}"
        assert client.patch(url, json={"name": "Mine"}, headers=bearer(carol)).status_code == status
        assert client.delete(url, headers=bearer(carol)).status_code == status
    assert (
        client.patch(f"/api/v1/characters/{public['id']}", json={"name": "Admin"}, headers=bearer(alice)).json()["name"]
        == "Admin"
    )
    own = client.patch(f"/api/v1/characters/{public['id']}", json={"name": "Bob's"}, headers=bearer(bob))
    assert own.status_code == 200


def test_bundled_characters_are_admin_only(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    bundled = client.get("/api/v1/characters").json()["items"][0]
    url = f"/api/v1/characters/{bundled['id']}"
    assert client.patch(url, json={"tagline": "x"}, headers=bearer(bob)).status_code == 403
    assert client.patch(url, json={"tagline": "x"}, headers=bearer(alice)).json()["tagline"] == "x"


def test_delete_is_soft_and_hides_everywhere(client: TestClient[Any], services: Services, bob: dict[str, Any]) -> None:
    character = create(client, bob, name="Vanishing Zebra", visibility="public")
    assert client.delete(f"/api/v1/characters/{character['id']}", headers=bearer(bob)).status_code == 204
    assert client.get(f"/api/v1/characters/{character['id']}", headers=bearer(bob)).status_code == 404
    assert character["id"] not in ids(client.get("/api/v1/characters", headers=bearer(bob)))
    assert ids(client.get("/api/v1/characters/search?q=zebra", headers=bearer(bob))) == []
    with client.portal() as portal:
        deleted_at = portal.call(
            lambda: services.db.fetchval("select deleted_at from characters where id = ?", (character["id"],))
        )
    assert deleted_at  # the row is still there


# -- listing -------------------------------------------------------------------------------------------------


def test_filters_sorts_and_cursor_pages(client: TestClient[Any], services: Services, bob: dict[str, Any]) -> None:
    made = [
        create(client, bob, name=f"C{i}", visibility="public", tags=["paged"] if i % 2 else ["other"]) for i in range(7)
    ]
    with client.portal() as portal:
        for index, character in enumerate(made):
            portal.call(
                lambda c=character, i=index: services.db.execute_write(
                    "update characters set total_conversations = ?, avg_rating = ? where id = ?",
                    (i * 10, i % 3, c["id"]),
                )
            )
    newest = ids(client.get("/api/v1/characters?sort=new&limit=3", headers=bearer(bob)))
    assert newest == [c["id"] for c in made[::-1][:3]]
    popular = ids(client.get("/api/v1/characters?sort=popular&limit=2", headers=bearer(bob)))
    assert popular == [made[6]["id"], made[5]["id"]]
    rated = client.get("/api/v1/characters?sort=rating", headers=bearer(bob)).json()["items"]
    assert [c["avg_rating"] for c in rated] == sorted((c["avg_rating"] for c in rated), reverse=True)
    tagged = ids(client.get("/api/v1/characters?tag=paged", headers=bearer(bob)))
    assert set(tagged) == {made[i]["id"] for i in (1, 3, 5)}
    mine = ids(client.get(f"/api/v1/characters?creator={bob['user']['id']}", headers=bearer(bob)))
    assert set(mine) == {c["id"] for c in made}
    # Walk every page of "new": each character exactly once.
    seen, cursor = [], None
    while True:
        url = "/api/v1/characters?sort=new&limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(bob)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(made) + 3


def test_content_tier_filter_respects_age_verification(
    client: TestClient[Any], services: Services, bob: dict[str, Any]
) -> None:
    create(client, bob, name="Grown", visibility="public", content_tier="mature")
    assert ids(client.get("/api/v1/characters?content_tier=mature", headers=bearer(bob))) == []
    with client.portal() as portal:
        portal.call(
            lambda: services.db.execute_write(
                "update users set age_verified = 1, content_tier = 'mature' where id = ?", (bob["user"]["id"],)
            )
        )
    assert len(ids(client.get("/api/v1/characters?content_tier=mature", headers=bearer(bob)))) == 1


def test_a_bad_cursor_is_422(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/characters?cursor=%%%")
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_cursor"


# -- search --------------------------------------------------------------------------------------------------


def test_search_ranks_prefix_and_typo(client: TestClient[Any], bob: dict[str, Any], carol: dict[str, Any]) -> None:
    dragon = create(
        client,
        bob,
        name="Ember the Dragon",
        description="A grumpy dragon who hoards teacups.",
        tags=["fantasy"],
        visibility="public",
    )
    mention = create(
        client, bob, name="Pip", description="A squire who once saw a dragon far away.", visibility="public"
    )
    create(client, bob, name="Secret dragon", visibility="private")

    def search(q: str, who: dict[str, Any] = carol) -> list[str]:
        return ids(client.get(f"/api/v1/characters/search?q={q}", headers=bearer(who)))

    assert search("dragon") == [dragon["id"], mention["id"]]  # the name outweighs the description
    assert search("drag") == [dragon["id"], mention["id"]]  # prefix
    assert search("teacup") == [dragon["id"]]
    assert search("dargon") == [dragon["id"], mention["id"]]  # transposition
    assert search("teacupz") == [dragon["id"]]  # one letter off
    assert search("fantasy grumpy") == [dragon["id"]]  # tags count
    assert set(search("Bob")) == {dragon["id"], mention["id"]}  # creators' names are searchable
    assert len(search("dragon", bob)) == 3  # bob sees his own private character too
    assert search("") == [] and search('"*)(') == []


def test_search_by_creator_and_diacritics(client: TestClient[Any], bob: dict[str, Any]) -> None:
    found = create(client, bob, name="Zoë", creator_name="Ånnika", visibility="public")
    assert ids(client.get("/api/v1/characters/search?q=zoe")) == [found["id"]]
    assert ids(client.get("/api/v1/characters/search?q=annika")) == [found["id"]]


# -- trending ------------------------------------------------------------------------------------------------


def test_trending_follows_recent_activity(
    client: TestClient[Any], services: Services, alice: dict[str, Any], bob: dict[str, Any], carol: dict[str, Any]
) -> None:
    quiet = create(client, bob, name="Quiet", visibility="public")
    busy = create(client, bob, name="Busy", visibility="public")
    hidden = create(client, bob, name="Hidden")
    for _ in range(3):
        client.post("/api/v1/conversations", json={"character_id": busy["id"]}, headers=bearer(carol))
    client.post("/api/v1/conversations", json={"character_id": hidden["id"]}, headers=bearer(bob))
    with client.portal() as portal:
        portal.call(services.characters.trending_cache.refresh)
    ranked = ids(client.get("/api/v1/characters/trending", headers=bearer(carol)))
    assert ranked[0] == busy["id"] and hidden["id"] not in ranked
    assert quiet["id"] in ranked  # the rest is filled with the most popular
    # A favorite weighs more than a conversation: three favorites beat three conversations.
    with client.portal() as portal:
        for user in (alice, bob, carol):
            portal.call(
                lambda u=user: services.db.execute_write(
                    "insert into user_favorites (user_id, character_id) values (?, ?)", (u["user"]["id"], quiet["id"])
                )
            )
        portal.call(services.characters.trending_cache.refresh)
    assert ids(client.get("/api/v1/characters/trending", headers=bearer(carol)))[0] == quiet["id"]


def test_trending_is_cached_then_refreshed_in_the_background(
    client: TestClient[Any], services: Services, bob: dict[str, Any]
) -> None:
    first = create(client, bob, name="First", visibility="public")
    client.post("/api/v1/conversations", json={"character_id": first["id"]}, headers=bearer(bob))
    assert ids(client.get("/api/v1/characters/trending"))[0] == first["id"]  # computed on the first request
    second = create(client, bob, name="Second", visibility="public")
    for _ in range(3):
        client.post("/api/v1/conversations", json={"character_id": second["id"]}, headers=bearer(bob))
    assert services.characters.trending_cache._ranking == [(first["id"], "sfw")]  # not recomputed yet
    services.characters.trending_cache.invalidate()  # as if trending_refresh_seconds had passed
    client.get("/api/v1/characters/trending")  # answers from the cache, refreshes in the background
    deadline = time.monotonic() + 10
    while ids(client.get("/api/v1/characters/trending"))[0] != second["id"]:
        assert time.monotonic() < deadline, "the ranking was not refreshed"
        time.sleep(0.02)


# -- ratings -------------------------------------------------------------------------------------------------


def test_rating_once_per_user_and_editable(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], carol: dict[str, Any]
) -> None:
    character = create(client, bob, visibility="public")
    url = f"/api/v1/characters/{character['id']}"
    first = client.post(f"{url}/rate", json={"rating": 5, "review": "Lovely"}, headers=bearer(carol)).json()
    assert (first["avg_rating"], first["rating_count"]) == (5.0, 1)
    second = client.post(f"{url}/rate", json={"rating": 2}, headers=bearer(alice)).json()
    assert (second["avg_rating"], second["rating_count"]) == (3.5, 2)
    again = client.post(f"{url}/rate", json={"rating": 4, "review": "Changed my mind"}, headers=bearer(carol)).json()
    assert (again["avg_rating"], again["rating_count"]) == (3.0, 2)
    assert again["review"]["id"] == first["review"]["id"] and again["review"]["review"] == "Changed my mind"
    reviews = client.get(f"{url}/reviews").json()
    assert [(r["user_name"], r["rating"]) for r in reviews["items"]] == [("Carol", 4), ("Alice", 2)]
    assert client.get(url).json()["rating_count"] == 2


def test_rating_rules(client: TestClient[Any], bob: dict[str, Any], carol: dict[str, Any]) -> None:
    character = create(client, bob, visibility="public")
    private = create(client, bob)
    url = f"/api/v1/characters/{character['id']}/rate"
    own = client.post(url, json={"rating": 5}, headers=bearer(bob))
    assert own.status_code == 403 and "your own" in error_of(own)["message"]
    assert client.post(url, json={"rating": 6}, headers=bearer(carol)).status_code == 400
    assert client.post(url, json={"rating": 0}, headers=bearer(carol)).status_code == 400
    assert client.post(url, json={"rating": 3}).status_code == 401
    assert (
        client.post(f"/api/v1/characters/{private['id']}/rate", json={"rating": 3}, headers=bearer(carol)).status_code
        == 404
    )


def test_reviews_are_paged(client: TestClient[Any], bob: dict[str, Any]) -> None:
    character = create(client, bob, visibility="public")
    for index in range(5):
        rater = register(client, f"rater{index}@example.com")
        client.post(f"/api/v1/characters/{character['id']}/rate", json={"rating": 1 + index % 5}, headers=bearer(rater))
    page = client.get(f"/api/v1/characters/{character['id']}/reviews?limit=3").json()
    rest = client.get(f"/api/v1/characters/{character['id']}/reviews?limit=3&cursor={page['next_cursor']}").json()
    assert len(page["items"]) == 3 and len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert not {r["id"] for r in page["items"]} & {r["id"] for r in rest["items"]}
