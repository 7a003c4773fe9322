"""Every route × {anonymous, another user, owner, admin}.

The routes come from the app itself (`app.routes`, OIDC plugin included); each must have an entry in
ACCESS_RULES (tests/access_rules.py), and a route without one fails `test_every_route_has_an_access_rule`
— so routes added later cannot slip through. Each entry states the access rule (the closing note's table is generated
from it: `python -m tests.access_rules`) and a concrete request against the *owner's* objects.

For every identity that is refused, the owner's data must be unchanged, and no response to a non-owner
may contain the ids of the owner's private objects.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import bostonia_oidc
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.routes import ASGIRoute, HTTPRoute, WebSocketRoute
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.auth import service as auth_service
from bostonia.plugins import make_plugin_manager
from tests.access_rules import ACCESS_RULES, IDENTITIES, PRIVATE_CHARACTER, WEBSOCKET_RULES, Case
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, add_character, bearer, csrf_token, make_settings, register

ADMIN_EMAIL = "admin@example.com"
CHEAP_HASHER = partial(PasswordHasher, time_cost=1, memory_cost=1024, parallelism=1)


def app_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves (the automatic OPTIONS handlers aside)."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                found += [(method, route.path) for method in handler.http_methods if method != "OPTIONS"]
        elif isinstance(route, WebSocketRoute):
            found.append(("WS", route.path))
        elif isinstance(route, ASGIRoute):
            found.append(("ASGI", route.path))
    return sorted(set(found))


# -- fixtures --------------------------------------------------------------------------------------------
# One app for the module (building one costs more than a whole matrix row); every test gets a world of
# its own (fresh accounts and objects), so rows cannot see each other's data.


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient[Any], Services, Litestar]]:
    # A provider with explicit endpoints, so starting a login needs no network.
    provider = {
        "name": "test",
        "client_id": "matrix",
        "authorization_endpoint": "http://127.0.0.1:9/authorize",
        "token_endpoint": "http://127.0.0.1:9/token",
    }
    settings = make_settings(
        data_dir=str(tmp_path_factory.mktemp("matrix")), plugins={"oidc": {"providers": [provider]}}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth_service, "PasswordHasher", CHEAP_HASHER)
        plugins = make_plugin_manager([])
        plugins.register(ModelPlugin(ScriptedModel()))
        plugins.register(bostonia_oidc, name="oidc")
        services = build_services(settings, plugins)
    app = create_app(settings, services=services)
    with TestClient(app) as client:
        register(client, ADMIN_EMAIL)  # the first account is the admin
        yield client, services, app


@pytest.fixture
def client(matrix: tuple[TestClient[Any], Services, Litestar]) -> TestClient[Any]:
    matrix[0].cookies.clear()
    return matrix[0]


@pytest.fixture
def services(matrix: tuple[TestClient[Any], Services, Litestar]) -> Services:
    return matrix[1]


@pytest.fixture
def app(matrix: tuple[TestClient[Any], Services, Litestar]) -> Litestar:
    return matrix[2]


@dataclass
class World:
    tokens: dict[str, str]  # identity -> access token
    ids: dict[str, str]
    secrets: list[str]  # ids of the owner's private objects: never in a response to anyone else


_counter = itertools.count()


@pytest.fixture
def world(client: TestClient[Any], services: Services) -> World:
    n = next(_counter)
    root = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}).json()
    admin = register(client, f"admin{n}@example.com")  # an admin of this world's own: nothing carries over
    promoted = client.patch(f"/api/v1/admin/users/{admin['user']['id']}", json={"role": "admin"}, headers=bearer(root))
    assert promoted.status_code == 200
    accounts = {
        "admin": admin,
        "other": register(client, f"other{n}@example.com"),
        "owner": register(client, f"owner{n}@example.com"),
    }
    register(client, f"reset{n}@example.com")
    owner = accounts["owner"]
    public, second = (c["id"] for c in client.get("/api/v1/characters").json()["items"][:2])
    private = add_character(services, PRIVATE_CHARACTER, creator_id=owner["user"]["id"], visibility="private")
    conversation = client.post("/api/v1/conversations", json={"character_id": public}, headers=bearer(owner)).json()
    message = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(owner)).json()["items"][
        0
    ]
    exchange = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "hello"}, headers=bearer(owner)
    ).json()
    reply = exchange["assistant_message"]["id"]
    second_reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/{reply}/regenerate", headers=bearer(owner)
    ).json()["assistant_message"]["id"]
    persona = client.post("/api/v1/personas", json={"name": "Secret self"}, headers=bearer(owner)).json()
    collection = client.post("/api/v1/users/me/collections", json={"name": "private"}, headers=bearer(owner)).json()
    for character in (public, private):
        client.post(
            f"/api/v1/users/me/collections/{collection['id']}/characters",
            json={"character_id": character},
            headers=bearer(owner),
        )
    client.post("/api/v1/users/me/favorites", json={"character_id": public}, headers=bearer(owner))
    client.patch("/api/v1/users/me/preferences", json={"theme": "light"}, headers=bearer(owner))
    world_info = b'{"entries": {"0": {"uid": 0, "key": ["secret"], "content": "The owner\'s lore."}}}'
    lore_file = {"file": ("lore.json", world_info, "application/json")}
    imported = client.post("/api/v1/characters/import", files=lore_file, headers=bearer(owner))
    lorebook = imported.json()["lorebooks"][0]["id"]
    lore_entry = client.get(f"/api/v1/lorebooks/{lorebook}", headers=bearer(owner)).json()["entries"][0]["id"]
    for link in ({"scope": "global"}, {"scope": "conversation", "target_id": conversation["id"]}):
        attached = client.post(f"/api/v1/lorebooks/{lorebook}/attachments", json=link, headers=bearer(owner))
        assert attached.status_code == 201, attached.text
    # A shared room: the owner's group chat with two characters and a guest invited in; a link invitation.
    room = client.post("/api/v1/conversations", json={"character_ids": [public, second]}, headers=bearer(owner)).json()[
        "id"
    ]
    guest = register(client, f"guest{n}@example.com")
    token = client.post(f"/api/v1/conversations/{room}/invites", json={}, headers=bearer(owner)).json()["token"]
    assert client.post(f"/api/v1/invites/{token}/accept", json={}, headers=bearer(guest)).status_code == 200
    invite = client.post(f"/api/v1/conversations/{room}/invites", json={}, headers=bearer(owner)).json()["id"]
    memory = f"/api/v1/memory/{conversation['id']}"
    fact = client.post(f"{memory}/facts", json={"content": "The owner's secret fact."}, headers=bearer(owner)).json()
    knowledge = client.post(
        "/api/v1/knowledge",
        data={"scope": "conversation", "scope_id": conversation["id"]},
        files={"file": ("secret.md", b"The owner's secret notes.", "text/markdown")},
        headers=bearer(owner),
    ).json()
    extraction = client.post(
        "/api/v1/memory/extract", json={"conversation_id": conversation["id"]}, headers=bearer(owner)
    ).json()
    api_key = client.post("/api/v1/users/me/api-keys", json={"name": "owner's"}, headers=bearer(owner)).json()
    ids = {
        "api_key": api_key["key"]["id"],
        "room": room,
        "invite": invite,
        "guest_id": guest["user"]["id"],
        "public_character": public,
        "second_character": second,
        "private_character": private,
        "conversation": conversation["id"],
        "message": message["id"],
        "reply": reply,
        "second_reply": second_reply,
        "persona": persona["id"],
        "collection": collection["id"],
        "lorebook": lorebook,
        "lore_entry": lore_entry,
        "fact": fact["id"],
        "extraction": extraction["id"],
        "knowledge": knowledge["id"],
        "owner_id": owner["user"]["id"],
        "owner_email": f"owner{n}@example.com",
        "reset_email": f"reset{n}@example.com",
    }
    secrets = [private, conversation["id"], message["id"], reply, second_reply, persona["id"], collection["id"]]
    secrets += [
        lorebook,
        lore_entry,
        fact["id"],
        extraction["id"],
        knowledge["id"],
        api_key["key"]["id"],
        api_key["secret"],
        room,
        invite,
    ]
    tokens = {k: v["access_token"] for k, v in accounts.items()}
    return World({**tokens, "guest": guest["access_token"]}, ids, secrets)


def fresh(client: TestClient[Any], world: World) -> dict[str, str]:
    """Values a request uses up: a new email, a live refresh token, a valid reset token."""
    n = next(_counter)
    login = client.post("/api/v1/auth/login", json={"email": world.ids["reset_email"], "password": PASSWORD}).json()
    admin = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}).json()
    link = client.post(f"/api/v1/admin/users/{login['user']['id']}/reset-link", headers=bearer(admin))
    return {
        "fresh_email": f"new{n}@example.com",
        "fresh_refresh": login["refresh_token"],
        "fresh_reset": link.json()["url"].split("token=")[1],
    }


def owner_state(services: Services, owner_id: str) -> str:
    """Everything the owner has, as one comparable string."""

    def read(conn: Any) -> str:
        queries = {
            "user": "select id, email, display_name, bio, role, is_active, date_of_birth, age_verified, content_tier,"
            " password_hash from users where id = ?",
            "preferences": "select theme, language, notifications_enabled, memory_visible, typing_indicators"
            " from user_preferences where user_id = ?",
            "plan": "select tier, status from subscriptions where user_id = ? order by rowid",
            "conversations": "select id, title, message_count, active_leaf_id from conversations where user_id = ?",
            "messages": "select m.id, m.content from messages m join conversations c on c.id = m.conversation_id"
            " where c.user_id = ? order by m.created_at, m.id",
            "collections": "select id, name, is_public from collections where user_id = ?",
            "collected": "select cc.collection_id, cc.character_id from collection_characters cc"
            " join collections c on c.id = cc.collection_id where c.user_id = ? order by 1, 2",
            "favorites": "select character_id from user_favorites where user_id = ? order by 1",
            "characters": "select id, name, visibility from characters where creator_id = ?",
            "sessions": "select id from auth_sessions where user_id = ? and revoked_at is null order by 1",
            "api_keys": "select id, name, revoked_at from auth_api_keys where user_id = ? order by id",
            "lorebooks": "select id, name, scan_depth, updated_at from lorebooks where owner_id = ? order by id",
            "lore_entries": "select e.id, e.keys, e.content, e.extensions from lorebook_entries e"
            " join lorebooks b on b.id = e.lorebook_id where b.owner_id = ? order by e.id",
            "lore_links": "select l.lorebook_id, l.user_id, l.persona_id, l.conversation_id from lorebook_links l"
            " join lorebooks b on b.id = l.lorebook_id where b.owner_id = ? order by 1, 2, 3, 4",
            "lore_settings": "select settings from lore_settings where user_id = ?",
            "groups": "select id, group_settings, character_id from conversations where user_id = ? order by id",
            "cast": "select m.conversation_id, m.character_id, m.position, m.is_muted, m.talkativeness"
            " from conversation_characters m join conversations c on c.id = m.conversation_id where c.user_id = ?"
            " order by 1, 3",
            "people": "select p.conversation_id, p.user_id, p.persona_id from conversation_people p"
            " join conversations c on c.id = p.conversation_id where c.user_id = ? order by 1, 2",
            "invites": "select i.id, i.revoked_at, i.uses from conversation_invites i"
            " join conversations c on c.id = i.conversation_id where c.user_id = ? order by 1",
            "memories": "select id, content, is_pinned, importance from conversation_memories where user_id = ?"
            " order by 1",
        }
        return json.dumps({k: [list(r) for r in conn.execute(sql, (owner_id,))] for k, sql in queries.items()})

    return services.db.read_sync(read)


def request(client: TestClient[Any], case: Case, method: str, identity: str, world: World) -> Any:
    values = {**world.ids, **(fresh(client, world) if "{fresh_" in repr(case) else {})}
    path = case.path.format(**values)
    headers = {"x-csrftoken": csrf_token(client), **case.headers}
    if identity != "anonymous":
        headers["Authorization"] = f"Bearer {world.tokens[identity]}"
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if case.json is not None:
        kwargs["json"] = {k: v.format(**values) if isinstance(v, str) else v for k, v in case.json.items()}
    if case.files is not None:
        kwargs["files"] = case.files
    if case.form is not None:
        kwargs["data"] = {
            **{k: v.format(**values) for k, v in case.form.items()},
            "_csrf_token": headers["x-csrftoken"],
        }
    response = client.request(method, path, **kwargs)
    client.cookies.delete("bostonia_session")  # a page sign-in must not carry over to the next identity
    return response


# -- the matrix -------------------------------------------------------------------------------------------


def test_every_route_has_an_access_rule(app: Litestar) -> None:
    served = app_routes(app)
    missing = [r for r in served if r not in ACCESS_RULES and not (r[0] == "WS" and r[1] in WEBSOCKET_RULES)]
    assert not missing, f"routes without an access rule in tests/test_authz_matrix.py: {missing}"
    stale = [r for r in ACCESS_RULES if r not in served]
    assert not stale, f"access rules for routes that no longer exist: {stale}"


@pytest.mark.parametrize("route", sorted(ACCESS_RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_access(route: tuple[str, str], client: TestClient[Any], world: World, services: Services) -> None:
    method, _ = route
    case = ACCESS_RULES[route]
    # The owner goes last unless admins may act (then admins go last: they may delete the owner).
    admin_refused = all(status >= 400 for status in case.rule.expected("admin"))
    order = ("anonymous", "other", "admin", "owner") if admin_refused else IDENTITIES
    for identity in order:
        before = owner_state(services, world.ids["owner_id"])
        response = request(client, case, method, identity, world)
        expected = case.rule.expected(identity)
        assert response.status_code in expected, (
            f"{identity}: {method} {route[1]} -> {response.status_code} {response.text[:300]}"
        )
        if identity != "owner":
            leaked = [secret for secret in world.secrets if secret in response.text]
            assert not leaked, f"{identity} saw the owner's private ids {leaked} in {method} {route[1]}"
            if response.status_code >= 400:
                assert owner_state(services, world.ids["owner_id"]) == before, f"{identity} changed the owner's data"


def test_private_characters_never_appear_in_lists(client: TestClient[Any], world: World) -> None:
    for identity in ("anonymous", "other", "admin"):
        headers = {} if identity == "anonymous" else {"Authorization": f"Bearer {world.tokens[identity]}"}
        for path in ("/api/v1/characters", "/"):
            assert world.ids["private_character"] not in client.get(path, headers=headers).text
    owner = {"Authorization": f"Bearer {world.tokens['owner']}"}
    assert world.ids["private_character"] in client.get("/api/v1/characters", headers=owner).text


def test_websocket_access(client: TestClient[Any], world: World) -> None:
    """WebSocket routes bring their own checker in WEBSOCKET_RULES: fn(client, ids, tokens by identity)."""
    for _text, check in WEBSOCKET_RULES.values():
        check(client, world.ids, world.tokens)
