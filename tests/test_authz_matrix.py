"""Every route × {anonymous, another user, owner, admin}.

The routes come from the app itself (`app.routes`, OIDC plugin included); each must have an entry in
ACCESS_RULES, and a route without one fails `test_every_route_has_an_access_rule` — so routes added
later cannot slip through. Each entry states the access rule (the closing note's table is generated
from it: `python -m tests.test_authz_matrix`) and a concrete request against the *owner's* objects.

For every identity that is refused, the owner's data must be unchanged, and no response to a non-owner
may contain the ids of the owner's private objects.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from tests.conftest import PASSWORD, bearer, csrf_token, make_settings, register
from tests.fakes import ModelPlugin, ScriptedModel
from tests.test_users import add_character

IDENTITIES = ("anonymous", "other", "owner", "admin")
ADMIN_EMAIL = "admin@example.com"
CHEAP_HASHER = partial(PasswordHasher, time_cost=1, memory_cost=1024, parallelism=1)
Status = int | tuple[int, ...]


@dataclass(frozen=True)
class Rule:
    text: str
    anonymous: Status
    other: Status
    owner: Status
    admin: Status

    def expected(self, identity: str) -> tuple[int, ...]:
        status = getattr(self, identity)
        return status if isinstance(status, tuple) else (status,)


def anyone(status: Status = 200, text: str = "anyone") -> Rule:
    return Rule(text, status, status, status, status)


def signed_in(status: Status = 200, *, admin: Status | None = None, text: str = "") -> Rule:
    return Rule(
        text or "signed in (401 otherwise); acts on the caller's own account",
        401,
        status,
        status,
        status if admin is None else admin,
    )


def owner_only(status: Status = 200, *, anonymous: Status = 401, text: str = "") -> Rule:
    return Rule(
        text or "the owner only; anyone else, admins included, gets 404 (anonymous: 401)",
        anonymous,
        404,
        status,
        404,
    )


def admins(status: Status = 200) -> Rule:
    return Rule("admins only (403 for users, 401 anonymous)", 401, 403, 403, status)


@dataclass(frozen=True)
class Case:
    rule: Rule
    path: str  # with {placeholders} for the owner's objects
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


C = Case
PRIVATE_CHARACTER = "the owner's private character"
# Pages with a signed-in visitor redirect away from the sign-in forms.
SIGN_IN_FORM = anyone((200, 302), text="anyone (signed-in visitors are redirected)")

ACCESS_RULES: dict[tuple[str, str], Case] = {
    # -- operations and static files ---------------------------------------------------------------
    ("GET", "/health"): C(anyone(), "/health"),
    ("GET", "/ready"): C(anyone(), "/ready"),
    ("GET", "/metrics"): C(anyone(), "/metrics"),
    ("GET", "/static/{file_path:path}"): C(anyone(), "/static/app.css"),
    ("HEAD", "/static/{file_path:path}"): C(anyone(), "/static/app.css"),
    ("GET", "/schema"): C(anyone(), "/schema"),
    ("GET", "/schema/openapi.json"): C(anyone(), "/schema/openapi.json"),
    ("GET", "/schema/openapi.yaml"): C(anyone(), "/schema/openapi.yaml"),
    ("GET", "/schema/openapi.yml"): C(anyone(), "/schema/openapi.yml"),
    ("GET", "/schema/redoc"): C(anyone(), "/schema/redoc"),
    ("GET", "/schema/rapidoc"): C(anyone(), "/schema/rapidoc"),
    ("GET", "/schema/elements"): C(anyone(), "/schema/elements"),
    ("GET", "/schema/swagger"): C(anyone(), "/schema/swagger"),
    ("GET", "/schema/oauth2-redirect.html"): C(anyone(), "/schema/oauth2-redirect.html"),
    ("GET", "/schema/{path:str}"): C(anyone(404), "/schema/nothing-here"),
    # -- auth API ------------------------------------------------------------------------------------
    ("POST", "/api/v1/auth/register"): C(
        anyone(201), "/api/v1/auth/register", json={"email": "{fresh_email}", "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/login"): C(
        anyone(200, "anyone (throttled per email and IP)"),
        "/api/v1/auth/login",
        json={"email": "{owner_email}", "password": PASSWORD},
    ),
    ("POST", "/api/v1/auth/refresh"): C(
        anyone(200, "anyone holding a live refresh token"),
        "/api/v1/auth/refresh",
        json={"refresh_token": "{fresh_refresh}"},
    ),
    ("POST", "/api/v1/auth/logout"): C(anyone(204, "anyone; ends the sign-in it is given"), "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/verify-age"): C(
        signed_in(), "/api/v1/auth/verify-age", json={"date_of_birth": "1990-01-01"}
    ),
    ("POST", "/api/v1/auth/forgot-password"): C(
        anyone(202, "anyone; same answer for every email"),
        "/api/v1/auth/forgot-password",
        json={"email": "{owner_email}"},
    ),
    ("POST", "/api/v1/auth/reset-password"): C(
        anyone(200, "anyone holding a valid reset token"),
        "/api/v1/auth/reset-password",
        json={"token": "{fresh_reset}", "password": PASSWORD},
    ),
    # -- the caller's own account ----------------------------------------------------------------------
    ("GET", "/api/v1/users/me"): C(signed_in(), "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"): C(signed_in(), "/api/v1/users/me", json={"bio": "changed"}),
    ("DELETE", "/api/v1/users/me"): C(
        signed_in(204, text="signed in; deletes the caller's own account (password; not the last admin)"),
        "/api/v1/users/me",
        json={"password": PASSWORD},
    ),
    ("POST", "/api/v1/users/me/password"): C(
        signed_in(), "/api/v1/users/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/v1/users/me/preferences"): C(signed_in(), "/api/v1/users/me/preferences"),
    ("PATCH", "/api/v1/users/me/preferences"): C(signed_in(), "/api/v1/users/me/preferences", json={"theme": "dark"}),
    ("GET", "/api/v1/users/me/favorites"): C(signed_in(), "/api/v1/users/me/favorites"),
    ("POST", "/api/v1/users/me/favorites"): C(
        signed_in(201, text="signed in; only characters the caller may see"),
        "/api/v1/users/me/favorites",
        json={"character_id": "{public_character}"},
    ),
    ("DELETE", "/api/v1/users/me/favorites/{character_id:str}"): C(
        owner_only(204, text="signed in; the caller's own favorite (404 otherwise)"),
        "/api/v1/users/me/favorites/{public_character}",
    ),
    ("GET", "/api/v1/users/me/collections"): C(signed_in(), "/api/v1/users/me/collections"),
    ("POST", "/api/v1/users/me/collections"): C(signed_in(201), "/api/v1/users/me/collections", json={"name": "mine"}),
    ("GET", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(), "/api/v1/users/me/collections/{collection}"
    ),
    ("PATCH", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(), "/api/v1/users/me/collections/{collection}", json={"name": "taken over"}
    ),
    ("DELETE", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(204), "/api/v1/users/me/collections/{collection}"
    ),
    ("POST", "/api/v1/users/me/collections/{collection_id:str}/characters"): C(
        owner_only(201),
        "/api/v1/users/me/collections/{collection}/characters",
        json={"character_id": "{second_character}"},
    ),
    ("DELETE", "/api/v1/users/me/collections/{collection_id:str}/characters/{character_id:str}"): C(
        owner_only(204), "/api/v1/users/me/collections/{collection}/characters/{public_character}"
    ),
    ("GET", "/api/v1/collections/{collection_id:str}"): C(
        owner_only(anonymous=404, text="anyone if the collection is public, else the owner only (404)"),
        "/api/v1/collections/{collection}",
    ),
    # -- administration ---------------------------------------------------------------------------------
    ("GET", "/api/v1/admin/users"): C(admins(), "/api/v1/admin/users"),
    ("GET", "/api/v1/admin/users/{user_id:str}"): C(admins(), "/api/v1/admin/users/{owner_id}"),
    ("PATCH", "/api/v1/admin/users/{user_id:str}"): C(
        admins(), "/api/v1/admin/users/{owner_id}", json={"tier": "plus"}
    ),
    ("DELETE", "/api/v1/admin/users/{user_id:str}"): C(admins(204), "/api/v1/admin/users/{owner_id}"),
    ("POST", "/api/v1/admin/users/{user_id:str}/reset-link"): C(
        admins(201), "/api/v1/admin/users/{owner_id}/reset-link"
    ),
    ("GET", "/api/v1/admin/audit"): C(admins(), "/api/v1/admin/audit"),
    # -- characters ---------------------------------------------------------------------------------------
    ("GET", "/api/v1/characters"): C(
        anyone(text="anyone; lists only public characters (+ own) within the viewer's content tiers"),
        "/api/v1/characters",
    ),
    ("GET", "/api/v1/characters/{character_id:str}"): C(
        owner_only(
            anonymous=404, text="public ones: anyone within their content tier; private: the creator only (404)"
        ),
        "/api/v1/characters/{private_character}",
    ),
    # -- conversations --------------------------------------------------------------------------------------
    ("GET", "/api/v1/conversations"): C(
        signed_in(text="signed in; lists the caller's own conversations"), "/api/v1/conversations"
    ),
    ("POST", "/api/v1/conversations"): C(
        signed_in(201, text="signed in; with a character the caller may see"),
        "/api/v1/conversations",
        json={"character_id": "{public_character}"},
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/api/v1/conversations/{conversation}",
    ),
    ("DELETE", "/api/v1/conversations/{conversation_id:str}"): C(
        owner_only(204), "/api/v1/conversations/{conversation}"
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/api/v1/conversations/{conversation}/messages",
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages"): C(
        owner_only(201), "/api/v1/conversations/{conversation}/messages", json={"content": "hello"}
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/stream"): C(
        owner_only(), "/api/v1/conversations/{conversation}/messages/{message}/stream"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/cancel"): C(
        owner_only(), "/api/v1/conversations/{conversation}/cancel"
    ),
    # -- sign-in pages --------------------------------------------------------------------------------------
    ("GET", "/login"): C(SIGN_IN_FORM, "/login"),
    ("POST", "/login"): C(
        anyone(303, "anyone (throttled per email and IP)"),
        "/login",
        form={"email": "{owner_email}", "password": PASSWORD},
    ),
    ("GET", "/register"): C(SIGN_IN_FORM, "/register"),
    ("POST", "/register"): C(anyone(303), "/register", form={"email": "{fresh_email}", "password": PASSWORD}),
    ("POST", "/logout"): C(anyone(303, "anyone; ends the browser session"), "/logout", form={}),
    ("GET", "/forgot-password"): C(anyone(), "/forgot-password"),
    ("POST", "/forgot-password"): C(
        anyone(200, "anyone; same answer for every email"), "/forgot-password", form={"email": "{owner_email}"}
    ),
    ("GET", "/reset-password"): C(anyone(), "/reset-password?token=x"),
    ("POST", "/reset-password"): C(
        anyone(303, "anyone holding a valid reset token"),
        "/reset-password",
        form={"token": "{fresh_reset}", "password": PASSWORD},
    ),
    # -- account pages --------------------------------------------------------------------------------------
    ("GET", "/account"): C(signed_in(), "/account"),
    ("POST", "/account"): C(signed_in(303), "/account", form={"display_name": "Changed"}),
    ("POST", "/account/password"): C(
        signed_in(303), "/account/password", form={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("POST", "/account/verify-age"): C(signed_in(303), "/account/verify-age", form={"date_of_birth": "1990-01-01"}),
    ("POST", "/account/delete"): C(
        signed_in(303, text="signed in; deletes the caller's own account (password; not the last admin)"),
        "/account/delete",
        form={"password": PASSWORD, "confirm": "delete"},
    ),
    ("GET", "/account/preferences"): C(signed_in(), "/account/preferences"),
    ("POST", "/account/preferences"): C(
        signed_in(303), "/account/preferences", form={"theme": "dark", "language": "en"}
    ),
    ("GET", "/favorites"): C(signed_in(), "/favorites"),
    ("POST", "/favorites/{character_id:str}/remove"): C(
        owner_only(303, text="signed in; the caller's own favorite (404 otherwise)"),
        "/favorites/{public_character}/remove",
        form={},
    ),
    ("GET", "/collections"): C(signed_in(), "/collections"),
    ("POST", "/collections"): C(signed_in(303), "/collections", form={"name": "mine"}),
    ("GET", "/collections/{collection_id:str}"): C(
        owner_only(anonymous=404, text="anyone if the collection is public, else the owner only (404)"),
        "/collections/{collection}",
    ),
    ("POST", "/collections/{collection_id:str}"): C(owner_only(303), "/collections/{collection}", form={"name": "x"}),
    ("POST", "/collections/{collection_id:str}/delete"): C(
        owner_only(303), "/collections/{collection}/delete", form={}
    ),
    ("POST", "/collections/{collection_id:str}/characters"): C(
        owner_only(303), "/collections/{collection}/characters", form={"character_id": "{second_character}"}
    ),
    ("POST", "/collections/{collection_id:str}/characters/{character_id:str}/remove"): C(
        owner_only(303), "/collections/{collection}/characters/{public_character}/remove", form={}
    ),
    ("GET", "/admin/users"): C(admins(), "/admin/users"),
    ("POST", "/admin/users/{user_id:str}/{action:str}"): C(
        admins(303), "/admin/users/{owner_id}/tier", form={"tier": "plus"}
    ),
    # -- catalogue and chat pages -------------------------------------------------------------------------
    ("GET", "/"): C(anyone(text="anyone; shows public characters within the viewer's content tiers"), "/"),
    ("GET", "/characters/{character_id:str}"): C(
        owner_only(
            anonymous=404, text="public ones: anyone within their content tier; private: the creator only (404)"
        ),
        "/characters/{private_character}",
    ),
    ("POST", "/characters/{character_id:str}/chat"): C(
        signed_in(303, text="signed in; with a character the caller may see"),
        "/characters/{public_character}/chat",
        form={},
    ),
    ("GET", "/chats"): C(signed_in(text="signed in; lists the caller's own conversations"), "/chats"),
    ("GET", "/chats/{conversation_id:str}"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/chats/{conversation}",
    ),
    ("POST", "/chats/{conversation_id:str}/messages"): C(
        owner_only(), "/chats/{conversation}/messages", form={"content": "hi"}, headers={"hx-request": "true"}
    ),
    ("GET", "/chats/{conversation_id:str}/stream/{message_id:str}"): C(
        owner_only(), "/chats/{conversation}/stream/{message}"
    ),
    ("POST", "/chats/{conversation_id:str}/cancel"): C(owner_only(204), "/chats/{conversation}/cancel", form={}),
    ("POST", "/chats/{conversation_id:str}/delete"): C(owner_only(303), "/chats/{conversation}/delete", form={}),
    # -- sign in with OIDC (plugin) ------------------------------------------------------------------------
    ("GET", "/auth/oidc/{provider:str}/login"): C(anyone(302), "/auth/oidc/test/login"),
    ("GET", "/auth/oidc/{provider:str}/callback"): C(
        anyone(401, "anyone; finishes only a login this browser started (state + cookie)"),
        "/auth/oidc/test/callback?code=c&state=forged",
    ),
    ("POST", "/auth/oidc/{provider:str}/callback"): C(
        anyone(401, "anyone; finishes only a login this browser started (state + cookie); no CSRF token"),
        "/auth/oidc/test/callback",
        form={"code": "c", "state": "forged"},
    ),
}

# WebSocket routes need a checker of their own: fn(client, ids, tokens) asserting the four identities.
WEBSOCKET_RULES: dict[str, tuple[str, Callable[[TestClient[Any], dict[str, str], dict[str, str]], None]]] = {}


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
    settings = make_settings(data_dir=str(tmp_path_factory.mktemp("matrix")), oidc={"providers": [provider]})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth_service, "PasswordHasher", CHEAP_HASHER)
        plugins = make_plugin_manager(load=[])
        plugins.register(ModelPlugin(ScriptedModel()))
        plugins.register(bostonia_oidc)
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
    collection = client.post("/api/v1/users/me/collections", json={"name": "private"}, headers=bearer(owner)).json()
    for character in (public, private):
        client.post(
            f"/api/v1/users/me/collections/{collection['id']}/characters",
            json={"character_id": character},
            headers=bearer(owner),
        )
    client.post("/api/v1/users/me/favorites", json={"character_id": public}, headers=bearer(owner))
    client.patch("/api/v1/users/me/preferences", json={"theme": "light"}, headers=bearer(owner))
    ids = {
        "public_character": public,
        "second_character": second,
        "private_character": private,
        "conversation": conversation["id"],
        "message": message["id"],
        "collection": collection["id"],
        "owner_id": owner["user"]["id"],
        "owner_email": f"owner{n}@example.com",
        "reset_email": f"reset{n}@example.com",
    }
    secrets = [private, conversation["id"], message["id"], collection["id"]]
    return World({k: v["access_token"] for k, v in accounts.items()}, ids, secrets)


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


def access_table() -> str:
    """The routes and their access rules, as the closing note's Markdown table."""
    lines = ["| Method | Route | Access |", "|---|---|---|"]
    for (method, path), case in sorted(ACCESS_RULES.items(), key=lambda item: (item[0][1], item[0][0])):
        lines.append(f"| {method} | `{path}` | {case.rule.text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(access_table())
