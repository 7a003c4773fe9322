"""Favorites and collections: only visible characters, counters kept true, public collections readable
by anyone without revealing private or age-restricted characters."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from tests.helpers import HTML, add_character, bearer, error_of, post_form, sign_in

FAVORITES = "/api/v1/users/me/favorites"
COLLECTIONS = "/api/v1/users/me/collections"


def bundled(client: TestClient[Any]) -> list[dict[str, Any]]:
    return client.get("/api/v1/characters").json()["items"]


def favorite_count(client: TestClient[Any], character_id: str, account: dict[str, Any]) -> int:
    return client.get(f"/api/v1/characters/{character_id}", headers=bearer(account)).json()["favorite_count"]


def test_favorite_and_unfavorite_keep_the_count(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    first, second = (c["id"] for c in bundled(client)[:2])
    response = client.post(FAVORITES, json={"character_id": first}, headers=bearer(alice))
    assert response.status_code == 201
    assert response.json() == {"character_id": first, "favorited": True, "favorite_count": 1}
    assert client.post(FAVORITES, json={"character_id": first}, headers=bearer(alice)).json()["favorite_count"] == 1
    client.post(FAVORITES, json={"character_id": first}, headers=bearer(bob))
    client.post(FAVORITES, json={"character_id": second}, headers=bearer(alice))
    assert favorite_count(client, first, alice) == 2
    listed = client.get(FAVORITES, headers=bearer(alice)).json()["items"]
    assert [c["id"] for c in listed] == [second, first]  # newest first
    assert client.delete(f"{FAVORITES}/{first}", headers=bearer(alice)).status_code == 204
    assert favorite_count(client, first, alice) == 1
    again = client.delete(f"{FAVORITES}/{first}", headers=bearer(alice))
    assert again.status_code == 404 and favorite_count(client, first, alice) == 1
    assert [c["id"] for c in client.get(FAVORITES, headers=bearer(bob)).json()["items"]] == [first]


def test_cannot_favorite_what_you_cannot_see(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    private = add_character(services, "Secret", creator_id=alice["user"]["id"], visibility="private")
    mature = add_character(services, "Velvet", content_tier="mature")
    for character_id in (private, mature, "no-such-character"):
        response = client.post(FAVORITES, json={"character_id": character_id}, headers=bearer(bob))
        assert response.status_code == 404, character_id
    assert client.get(FAVORITES, headers=bearer(bob)).json()["items"] == []
    bad = client.post(FAVORITES, json={"character": private}, headers=bearer(bob))
    assert bad.status_code == 400 and error_of(bad)["code"] == "validation_error"
    assert (
        client.post(FAVORITES, content=b"nope", headers={**bearer(bob), "content-type": "application/json"}).status_code
        == 400
    )


def test_a_favorite_that_became_private_disappears_from_the_list(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    shared = add_character(services, "Shared", creator_id=alice["user"]["id"])
    client.post(FAVORITES, json={"character_id": shared}, headers=bearer(bob))
    services.db.write_sync(
        lambda conn: conn.execute("update characters set visibility = 'private' where id = ?", (shared,))
    )
    assert client.get(FAVORITES, headers=bearer(bob)).json()["items"] == []
    assert client.delete(f"{FAVORITES}/{shared}", headers=bearer(bob)).status_code == 204  # can still be removed


def test_the_htmx_favorite_button(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    character = bundled(client)[0]["id"]
    on = post_form(client, FAVORITES, {"character_id": character}, htmx=True)
    assert on.status_code == 200 and 'aria-pressed="true"' in on.text and f"/favorites/{character}" in on.text
    token = client.cookies["bostonia_csrf"]
    off = client.delete(f"{FAVORITES}/{character}", headers={"hx-request": "true", "x-csrftoken": token})
    assert off.status_code == 200 and 'aria-pressed="false"' in off.text and "hx-post" in off.text
    # JSON over the cookie session also works (with the CSRF header, as HTMX sends it).
    json_on = client.post(FAVORITES, json={"character_id": character}, headers={"x-csrftoken": token})
    assert json_on.status_code == 201 and json_on.json()["favorited"] is True


def test_favorites_page(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    character = bundled(client)[0]
    client.post(FAVORITES, json={"character_id": character["id"]}, headers=bearer(alice))
    page = client.get("/favorites", headers=HTML)
    assert page.status_code == 200 and character["name"] in page.text
    removed = post_form(client, f"/favorites/{character['id']}/remove", follow_redirects=False)
    assert removed.status_code == 303 and client.get(FAVORITES, headers=bearer(alice)).json()["items"] == []


# -- collections --------------------------------------------------------------------------------------


def new_collection(client: TestClient[Any], account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post(COLLECTIONS, json={"name": "Faves", **fields}, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()


def test_collections_crud(client: TestClient[Any], alice: dict[str, Any]) -> None:
    collection = new_collection(client, alice, description="mine")
    assert collection["is_public"] is False and collection["character_count"] == 0
    first, second = (c["id"] for c in bundled(client)[:2])
    cid = collection["id"]
    for character in (second, first, second):
        response = client.post(
            f"{COLLECTIONS}/{cid}/characters", json={"character_id": character}, headers=bearer(alice)
        )
        assert response.status_code == 201
    detail = client.get(f"{COLLECTIONS}/{cid}", headers=bearer(alice)).json()
    assert [c["id"] for c in detail["characters"]] == [second, first] and detail["collection"]["character_count"] == 2
    renamed = client.patch(f"{COLLECTIONS}/{cid}", json={"name": "Best", "is_public": True}, headers=bearer(alice))
    assert renamed.json()["name"] == "Best" and renamed.json()["is_public"] is True
    assert client.delete(f"{COLLECTIONS}/{cid}/characters/{second}", headers=bearer(alice)).status_code == 204
    assert client.delete(f"{COLLECTIONS}/{cid}/characters/{second}", headers=bearer(alice)).status_code == 404
    assert [c["name"] for c in client.get(COLLECTIONS, headers=bearer(alice)).json()["items"]] == ["Best"]
    assert client.delete(f"{COLLECTIONS}/{cid}", headers=bearer(alice)).status_code == 204
    assert client.get(f"{COLLECTIONS}/{cid}", headers=bearer(alice)).status_code == 404


@pytest.mark.parametrize(
    "body, status",
    [
        ({}, 400),
        ({"name": ""}, 400),
        ({"name": "   "}, 422),
        ({"name": "x" * 101}, 400),
        ({"name": "a", "owner": "b"}, 400),
    ],
)
def test_bad_collection_input(
    client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any], status: int
) -> None:
    assert client.post(COLLECTIONS, json=body, headers=bearer(alice)).status_code == status
    assert client.get(COLLECTIONS, headers=bearer(alice)).json()["items"] == []


def test_public_collections_show_only_what_the_viewer_may_see(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    private = add_character(services, "Alice's secret", creator_id=alice["user"]["id"], visibility="private")
    public = bundled(client)[0]["id"]
    collection = new_collection(client, alice, is_public=True)
    for character in (private, public):
        client.post(
            f"{COLLECTIONS}/{collection['id']}/characters", json={"character_id": character}, headers=bearer(alice)
        )
    assert len(client.get(f"/api/v1/collections/{collection['id']}", headers=bearer(alice)).json()["characters"]) == 2
    for headers in (bearer(bob), {}):
        seen = client.get(f"/api/v1/collections/{collection['id']}", headers=headers)
        assert seen.status_code == 200 and [c["id"] for c in seen.json()["characters"]] == [public]
    # Bob cannot manage it, nor reach it through his own /me paths.
    assert client.get(f"{COLLECTIONS}/{collection['id']}", headers=bearer(bob)).status_code == 404
    assert (
        client.patch(f"{COLLECTIONS}/{collection['id']}", json={"name": "mine"}, headers=bearer(bob)).status_code == 404
    )
    assert (
        client.post(
            f"{COLLECTIONS}/{collection['id']}/characters", json={"character_id": public}, headers=bearer(bob)
        ).status_code
        == 404
    )
    # Private again: gone for everyone else.
    client.patch(f"{COLLECTIONS}/{collection['id']}", json={"is_public": False}, headers=bearer(alice))
    assert client.get(f"/api/v1/collections/{collection['id']}", headers=bearer(bob)).status_code == 404
    assert client.get(f"/api/v1/collections/{collection['id']}").status_code == 404


def test_cannot_collect_characters_you_cannot_see(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    private = add_character(services, "Alice's secret", creator_id=alice["user"]["id"], visibility="private")
    collection = new_collection(client, bob)
    response = client.post(
        f"{COLLECTIONS}/{collection['id']}/characters", json={"character_id": private}, headers=bearer(bob)
    )
    assert response.status_code == 404
    assert client.get(f"{COLLECTIONS}/{collection['id']}", headers=bearer(bob)).json()["characters"] == []


def test_collection_pages(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    assert client.get("/collections", headers=HTML).status_code == 200
    created = post_form(
        client, "/collections", {"name": "Cozy", "description": "d", "is_public": "on"}, follow_redirects=False
    )
    assert created.status_code == 303
    url = created.headers["location"]
    character = bundled(client)[0]
    page = client.get(url, headers=HTML)
    assert page.status_code == 200 and "Cozy" in page.text and character["name"] in page.text  # in the add list
    assert (
        post_form(client, f"{url}/characters", {"character_id": character["id"]}, follow_redirects=False).status_code
        == 303
    )
    assert f'data-character-id="{character["id"]}"' in client.get(url, headers=HTML).text
    post_form(client, url, {"name": "Cozier"}, follow_redirects=False)  # unchecked box: private now
    detail = client.get(f"/api/v1{url}", headers=bearer(alice)).json()
    assert detail["collection"]["name"] == "Cozier" and detail["collection"]["is_public"] is False
    assert post_form(client, f"{url}/characters/{character['id']}/remove", follow_redirects=False).status_code == 303
    blank = post_form(client, "/collections", {"name": " "}, headers=HTML)
    assert blank.status_code == 422 and "must not be blank" in blank.text
    assert post_form(client, f"{url}/delete", follow_redirects=False).status_code == 303
    assert client.get(url, headers=HTML).status_code == 404


def test_a_public_collection_page_for_anonymous_visitors(client: TestClient[Any], alice: dict[str, Any]) -> None:
    collection = new_collection(client, alice, is_public=True)
    page = client.get(f"/collections/{collection['id']}", headers=HTML)
    assert page.status_code == 200 and "Faves" in page.text and "Add a character" not in page.text
