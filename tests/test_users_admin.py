"""Administration: admins manage accounts (roles, tiers, disabling, deletion, reset links) but cannot
read other users' conversations unless the instance allows it, and then every read is audited."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.config import Settings
from tests.helpers import (
    HTML,
    PASSWORD,
    add_character,
    bearer,
    error_of,
    make_settings,
    new_conversation,
    post_form,
    register,
    sign_in,
)

ADMIN = "/api/v1/admin"


def audit(client: TestClient[Any], admin: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return client.get(f"{ADMIN}/audit?action={action}", headers=bearer(admin)).json()["items"]


def test_only_admins_reach_the_admin_api(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    assert client.get(f"{ADMIN}/users", headers=bearer(alice)).status_code == 200
    for method, path in (
        ("GET", f"{ADMIN}/users"),
        ("GET", f"{ADMIN}/users/{alice['user']['id']}"),
        ("PATCH", f"{ADMIN}/users/{alice['user']['id']}"),
        ("DELETE", f"{ADMIN}/users/{alice['user']['id']}"),
        ("POST", f"{ADMIN}/users/{alice['user']['id']}/reset-link"),
        ("GET", f"{ADMIN}/audit"),
    ):
        body = {"role": "user"} if method == "PATCH" else None
        response = client.request(method, path, json=body, headers=bearer(bob))
        assert response.status_code == 403 and error_of(response)["code"] == "admin_only", (method, path)
    assert client.get(f"{ADMIN}/users").status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(alice)).json()["role"] == "admin"


def test_set_role_tier_and_disable(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    bob_id = bob["user"]["id"]
    updated = client.patch(f"{ADMIN}/users/{bob_id}", json={"role": "creator", "tier": "pro"}, headers=bearer(alice))
    assert updated.status_code == 200 and updated.json()["role"] == "creator" and updated.json()["tier"] == "pro"
    assert client.get("/api/v1/users/me", headers=bearer(bob)).json()["tier"] == "pro"
    shown = client.get(f"{ADMIN}/users/bob@example.com", headers=bearer(alice)).json()
    assert shown["id"] == bob_id and shown["tier"] == "pro"
    assert (
        client.patch(f"{ADMIN}/users/{bob_id}", json={"is_active": False}, headers=bearer(alice)).json()["is_active"]
        is False
    )
    assert client.get("/api/v1/users/me", headers=bearer(bob)).status_code == 401
    client.patch(f"{ADMIN}/users/{bob_id}", json={"is_active": True}, headers=bearer(alice))
    assert client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD}).status_code == 200
    actions = [e["action"] for e in client.get(f"{ADMIN}/audit", headers=bearer(alice)).json()["items"]]
    assert actions[:4] == ["user.enable", "user.disable", "user.set_tier", "user.set_role"]
    entry = audit(client, alice, "user.set_tier")[0]
    assert (
        entry["actor_id"] == alice["user"]["id"]
        and entry["target_id"] == bob_id
        and entry["details"] == {"tier": "pro"}
    )


@pytest.mark.parametrize(
    "body, status",
    [({"role": "king"}, 400), ({"tier": "gold"}, 400), ({"is_active": "no"}, 400), ({"email": "x"}, 400)],
)
def test_bad_admin_input(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], body: dict[str, Any], status: int
) -> None:
    response = client.patch(f"{ADMIN}/users/{bob['user']['id']}", json=body, headers=bearer(alice))
    assert response.status_code == status
    assert client.get(f"{ADMIN}/users/{bob['user']['id']}", headers=bearer(alice)).json()["role"] == "user"
    assert client.patch(f"{ADMIN}/users/nobody", json={"role": "user"}, headers=bearer(alice)).status_code == 404


def test_the_last_admin_stays(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    me = alice["user"]["id"]
    for body in ({"role": "user"}, {"is_active": False}):
        response = client.patch(f"{ADMIN}/users/{me}", json=body, headers=bearer(alice))
        assert response.status_code == 409 and error_of(response)["code"] == "last_admin"
    assert client.delete(f"{ADMIN}/users/{me}", headers=bearer(alice)).status_code == 409
    client.patch(f"{ADMIN}/users/{bob['user']['id']}", json={"role": "admin"}, headers=bearer(alice))
    assert client.patch(f"{ADMIN}/users/{me}", json={"role": "user"}, headers=bearer(alice)).status_code == 200


def test_reset_link_from_the_admin(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    link = client.post(f"{ADMIN}/users/{bob['user']['id']}/reset-link", headers=bearer(alice))
    assert link.status_code == 201
    token = link.json()["url"].split("token=")[1]
    assert (
        client.post("/api/v1/auth/reset-password", json={"token": token, "password": "reset by admin"}).status_code
        == 200
    )
    assert (
        client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": "reset by admin"}).status_code
        == 200
    )
    assert audit(client, alice, "user.reset_link")[0]["target_id"] == bob["user"]["id"]


# -- admins and private conversations -------------------------------------------------------------


def test_admins_cannot_read_other_users_conversations(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    conversation = new_conversation(client, bob)
    cid = conversation["id"]
    for path in (f"/api/v1/conversations/{cid}", f"/api/v1/conversations/{cid}/messages"):
        assert client.get(path, headers=bearer(alice)).status_code == 404
    assert client.get(f"/chats/{cid}", headers={**bearer(alice), **HTML}).status_code == 404
    assert cid not in str(client.get("/api/v1/conversations", headers=bearer(alice)).json())
    assert audit(client, alice, "conversation.read") == []


class TestWhenAdminsMayReadChats:
    @pytest.fixture
    def settings(self) -> Settings:
        return make_settings(privacy={"admin_can_read_chats": True})

    def test_admin_reads_are_audited_and_stay_read_only(
        self, client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
    ) -> None:
        cid = new_conversation(client, bob)["id"]
        assert client.get(f"/api/v1/conversations/{cid}", headers=bearer(alice)).status_code == 200
        assert client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(alice)).status_code == 200
        entries = audit(client, alice, "conversation.read")
        assert len(entries) == 2
        assert {(e["actor_id"], e["target_type"], e["target_id"]) for e in entries} == {
            (alice["user"]["id"], "conversation", cid)
        }
        assert entries[0]["details"] == {"owner_id": bob["user"]["id"]}
        # Reading is all: no sending or deleting in someone else's conversation.
        sent = client.post(f"/api/v1/conversations/{cid}/messages", json={"content": "hi"}, headers=bearer(alice))
        assert sent.status_code == 404
        assert client.delete(f"/api/v1/conversations/{cid}", headers=bearer(alice)).status_code == 404
        # Other users still cannot read it at all, and their attempts leave no audit entry.
        carol = register(client, "carol@example.com")
        assert client.get(f"/api/v1/conversations/{cid}", headers=bearer(carol)).status_code == 404
        assert len(audit(client, alice, "conversation.read")) == 2


# -- deletion ------------------------------------------------------------------------------------------


def owned_everything(client: TestClient[Any], services: Services, account: dict[str, Any]) -> dict[str, str]:
    """Give an account one of everything it can own."""
    uid = account["user"]["id"]
    public = add_character(services, "Public by Bob", creator_id=uid)
    private = add_character(services, "Private by Bob", creator_id=uid, visibility="private")
    services.db.write_sync(
        lambda conn: conn.execute("update characters set creator_name = 'Bob Realname' where id = ?", (public,))
    )
    conversation = new_conversation(client, account)
    # Someone else's character (the catalogue's order can put Bob's own public one first).
    listed = client.get("/api/v1/characters").json()["items"]
    favorite = next(item["id"] for item in listed if item["id"] not in (public, private))
    client.post("/api/v1/users/me/favorites", json={"character_id": favorite}, headers=bearer(account))
    client.post("/api/v1/users/me/collections", json={"name": "c"}, headers=bearer(account))
    return {"public": public, "private": private, "conversation": conversation["id"], "favorite": favorite}


def count(services: Services, sql: str, *params: Any) -> int:
    return int(services.db.read_sync(lambda conn: conn.execute(sql, params).fetchone()[0]))


def assert_nothing_personal_left(services: Services, user_id: str) -> None:
    for table, column in (
        ("users", "id"),
        ("user_preferences", "user_id"),
        ("subscriptions", "user_id"),
        ("credit_balances", "user_id"),
        ("conversations", "user_id"),
        ("user_favorites", "user_id"),
        ("collections", "user_id"),
        ("auth_sessions", "user_id"),
        ("characters", "creator_id"),
    ):
        assert count(services, f"select count(*) from {table} where {column} = ?", user_id) == 0, table
    assert (
        count(
            services,
            "select count(*) from messages m left join conversations c on c.id = m.conversation_id where c.id is null",
        )
        == 0
    )


def test_delete_mode_removes_everything_the_account_owned(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    owned = owned_everything(client, services, bob)
    assert client.get(f"/api/v1/characters/{owned['favorite']}").json()["favorite_count"] == 1
    assert client.delete(f"{ADMIN}/users/{bob['user']['id']}", headers=bearer(alice)).status_code == 204
    assert_nothing_personal_left(services, bob["user"]["id"])
    assert count(services, "select count(*) from characters where id in (?, ?)", owned["public"], owned["private"]) == 0
    assert client.get(f"/api/v1/characters/{owned['favorite']}").json()["favorite_count"] == 0
    assert audit(client, alice, "user.delete")[0]["details"] == {"mode": "delete"}
    assert client.get(f"{ADMIN}/users/{bob['user']['id']}", headers=bearer(alice)).status_code == 404


def test_anonymise_mode_keeps_public_characters_without_their_author(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    owned = owned_everything(client, services, bob)
    # Alice chats with Bob's public character: her conversation must survive Bob's departure.
    alices = client.post("/api/v1/conversations", json={"character_id": owned["public"]}, headers=bearer(alice)).json()
    response = client.delete(f"{ADMIN}/users/{bob['user']['id']}?mode=anonymise", headers=bearer(alice))
    assert response.status_code == 204
    assert_nothing_personal_left(services, bob["user"]["id"])
    kept = client.get(f"/api/v1/characters/{owned['public']}").json()
    assert kept["creator_id"] is None and kept["creator_name"] == ""
    assert count(services, "select count(*) from characters where id = ?", owned["private"]) == 0
    assert client.get(f"/api/v1/conversations/{alices['id']}", headers=bearer(alice)).status_code == 200
    assert client.delete(f"{ADMIN}/users/{alice['user']['id']}?mode=shred", headers=bearer(alice)).status_code == 400


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_other_users_chats_outlive_the_author_of_their_character(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services, mode: str
) -> None:
    """Alice's chats with Bob's characters are Alice's: deleting Bob (either mode) must not take them.
    A character only Bob used goes; one Alice chats with stays behind, hidden, without its author."""
    owned = owned_everything(client, services, bob)
    chats = [client.post("/api/v1/conversations", json={"character_id": owned["public"]}, headers=bearer(alice)).json()]
    # Bob made this one private after Alice started chatting with it.
    services.db.write_sync(
        lambda conn: conn.execute("update characters set visibility = 'public' where id = ?", (owned["private"],))
    )
    chats.append(
        client.post("/api/v1/conversations", json={"character_id": owned["private"]}, headers=bearer(alice)).json()
    )
    services.db.write_sync(
        lambda conn: conn.execute("update characters set visibility = 'private' where id = ?", (owned["private"],))
    )
    unused = add_character(services, "Nobody else's", creator_id=bob["user"]["id"], visibility="private")

    response = client.delete(f"{ADMIN}/users/{bob['user']['id']}?mode={mode}", headers=bearer(alice))
    assert response.status_code == 204
    assert_nothing_personal_left(services, bob["user"]["id"])
    assert count(services, "select count(*) from characters where id = ?", unused) == 0
    for chat in chats:
        assert client.get(f"/api/v1/conversations/{chat['id']}", headers=bearer(alice)).status_code == 200
        sent = client.post(
            f"/api/v1/conversations/{chat['id']}/messages", json={"content": "Still there?"}, headers=bearer(alice)
        )
        assert sent.status_code == 201 and sent.json()["assistant_message"]["content"]
    # The once-private character is hidden from everyone; the public one stays listed only when anonymising.
    assert client.get(f"/api/v1/characters/{owned['private']}", headers=bearer(alice)).status_code == 404
    public = client.get(f"/api/v1/characters/{owned['public']}", headers=bearer(alice))
    assert public.status_code == (200 if mode == "anonymise" else 404)


def test_deletion_is_one_transaction(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    owned = owned_everything(client, services, bob)

    def fail_midway(conn: Any) -> None:
        conn.execute("create temp trigger stop_it before delete on users begin select raise(abort, 'boom'); end")

    services.db.write_sync(fail_midway)
    response = client.delete(f"{ADMIN}/users/{bob['user']['id']}", headers=bearer(alice))
    assert response.status_code == 500
    # Nothing went: not the characters deleted before the user row, not the conversation.
    assert count(services, "select count(*) from characters where id in (?, ?)", owned["public"], owned["private"]) == 2
    assert count(services, "select count(*) from conversations where id = ?", owned["conversation"]) == 1
    services.db.write_sync(lambda conn: conn.execute("drop trigger temp.stop_it"))


# -- the admin page ----------------------------------------------------------------------------------


def test_admin_page_lists_users_and_acts(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    sign_in(client)
    page = client.get("/admin/users", headers=HTML)
    assert page.status_code == 200 and "bob@example.com" in page.text and 'href="/admin/users"' in page.text
    bob_id = bob["user"]["id"]
    assert post_form(client, f"/admin/users/{bob_id}/tier", {"tier": "plus"}, follow_redirects=False).status_code == 303
    assert (
        post_form(client, f"/admin/users/{bob_id}/role", {"role": "creator"}, follow_redirects=False).status_code == 303
    )
    assert post_form(client, f"/admin/users/{bob_id}/disable", follow_redirects=False).status_code == 303
    shown = client.get(f"{ADMIN}/users/{bob_id}", headers=bearer(alice)).json()
    assert (shown["tier"], shown["role"], shown["is_active"]) == ("plus", "creator", False)
    assert post_form(client, f"/admin/users/{bob_id}/enable", follow_redirects=False).status_code == 303
    reset = post_form(client, f"/admin/users/{bob_id}/reset-link", headers=HTML)
    assert reset.status_code == 200 and "/reset-password?token=" in reset.text
    bad = post_form(client, f"/admin/users/{bob_id}/role", {"role": "king"}, headers=HTML)
    assert bad.status_code == 422 and "unknown role" in bad.text
    assert post_form(client, f"/admin/users/{bob_id}/explode", headers=HTML).status_code == 404
    assert post_form(client, f"/admin/users/{bob_id}/delete", follow_redirects=False).status_code == 303
    assert "bob@example.com" not in client.get("/admin/users", headers=HTML).text


def test_admin_page_is_for_admins(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    sign_in(client, "bob@example.com")
    page = client.get("/admin/users", headers=HTML)
    assert page.status_code == 403 and "only admins" in page.text
    assert 'href="/admin/users"' not in client.get("/", headers=HTML).text
    assert post_form(client, f"/admin/users/{alice['user']['id']}/disable", headers=HTML).status_code == 403
    assert client.get("/api/v1/users/me", headers=bearer(alice)).json()["is_active"] is True
