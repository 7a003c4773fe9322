"""The security review, as tests: secrets never reach the logs of a real `bostonia serve`, passwords are hashed
with the stated argon2id parameters, JWTs are pinned to HS256, cookies carry their flags, every response has
its CSP, and no form post gets past CSRF."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from bostonia.app import build_services, create_app
from bostonia.auth.tokens import ALGORITHM
from bostonia.http.security import CONTENT_SECURITY_POLICY, CSRF_COOKIE
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import HTML, PASSWORD, bearer, make_settings, post_form, register, sign_in
from tests.live_server import server_process

# argon2id, RFC 9106's second recommended option (argon2-cffi's defaults): 64 MiB, 3 passes, 4 lanes.
PASSWORD_HASH_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_a_full_server_flow_logs_no_secret_and_hashes_with_the_stated_parameters(tmp_path: Path) -> None:
    password, new_password = "Tr0ub4dor&3-known-secret", "another known secret 99"
    with server_process(tmp_path, BOSTONIA_LOGGING_LEVEL="DEBUG") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            account = register(client, "secret@example.com", password=password)
            login = client.post("/api/v1/auth/login", json={"email": "secret@example.com", "password": password})
            tokens = login.json()
            refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
            key = client.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=bearer(refreshed)).json()
            assert client.get("/v1/models", headers={"authorization": f"Bearer {key['secret']}"}).status_code == 200
            wrong = client.post("/api/v1/auth/login", json={"email": "secret@example.com", "password": password + "x"})
            assert wrong.status_code == 401
            change = {"current_password": password, "new_password": new_password}
            assert client.post("/api/v1/users/me/password", json=change, headers=bearer(refreshed)).status_code == 200
            client.post("/api/v1/auth/logout", json={"refresh_token": refreshed["refresh_token"]})
        stored = sqlite3.connect(server.data_dir / "bostonia.db").execute("select password_hash from users").fetchall()
    log = server.log()
    assert '"request"' in log and "/api/v1/auth/login" in log  # the log was captured, at DEBUG
    secrets = {
        "password": password,
        "new password": new_password,
        "access token": account["access_token"],
        "refresh token": tokens["refresh_token"],
        "rotated refresh token": refreshed["refresh_token"],
        "API key": key["secret"],
        "signing secret": next(server.data_dir.glob("*secret*")).read_text().strip(),
    }
    leaked = [name for name, value in secrets.items() if value and value in log]
    assert not leaked, f"secrets in the server log: {leaked}"
    assert stored and all(row[0].startswith(PASSWORD_HASH_PREFIX) for row in stored), stored


def _forged(claims: dict[str, Any], header: dict[str, Any], key: bytes = b"") -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    import hashlib
    import hmac

    signing_input = f"{part(header)}.{part(claims)}"
    digest = hashlib.sha512 if header["alg"] == "HS512" else hashlib.sha256
    signature = (
        base64.urlsafe_b64encode(hmac.new(key, signing_input.encode(), digest).digest()).rstrip(b"=").decode()
        if header["alg"].startswith("HS")
        else ""
    )
    return f"{signing_input}.{signature}"


def test_jwts_are_pinned_to_hs256(client: TestClient[Any], alice: dict[str, Any], app: Litestar) -> None:
    assert ALGORITHM == "HS256"
    secret = app.state.services.secret.encode()
    genuine = jwt.decode(alice["access_token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(alice["access_token"])["alg"] == "HS256"
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 200
    later = {**genuine, "exp": int(time.time()) + 3600}
    for header, key in (
        ({"alg": "none", "typ": "JWT"}, b""),
        ({"alg": "None", "typ": "JWT"}, b""),
        ({"alg": "HS512", "typ": "JWT"}, secret),  # the right secret, another algorithm
        ({"alg": "HS256", "typ": "JWT"}, b"not the secret"),
        ({"alg": "RS256", "typ": "JWT"}, b""),
    ):
        token = _forged(later, header, key)
        response = client.get("/api/v1/users/me", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401, header
    assert (
        client.get(
            "/api/v1/users/me",
            headers={"authorization": f"Bearer {_forged(later, {'alg': 'HS256', 'typ': 'JWT'}, secret)}"},
        ).status_code
        == 200
    )


@pytest.fixture
def https_client() -> Iterator[TestClient[Litestar]]:
    """The app as deployed behind HTTPS (`[auth] secure_cookies`), reached over https."""
    settings = make_settings(auth={"secure_cookies": True})
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    app = create_app(settings, services=build_services(settings, plugins))
    with TestClient(app, base_url="https://bostonia.local") as client:
        yield client


def test_cookies_are_httponly_samesite_and_secure_behind_https(https_client: TestClient[Any]) -> None:
    client = https_client
    register(client, "alice@example.com", name="Alice")
    client.get("/login", headers=HTML)
    csrf = next(c for c in client.cookies.jar if c.name == CSRF_COOKIE)
    assert csrf.secure and csrf.has_nonstandard_attr("HttpOnly")
    response = post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD}, follow_redirects=False)
    session = response.headers["set-cookie"]
    assert all(flag in session for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/")), session
    assert "strict-transport-security" in client.get("/health").headers


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/characters", "/nowhere", "/health", "/metrics"])
def test_every_response_has_the_csp(client: TestClient[Any], path: str) -> None:
    headers = client.get(path, headers=HTML).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_no_form_post_gets_past_csrf(client: TestClient[Any], app: Litestar, alice: dict[str, Any]) -> None:
    """Every unsafe route outside the API, signed in with the session cookie, without the token: 403 before the
    handler runs (nothing the route does happens)."""
    sign_in(client)
    unsafe = sorted(
        {
            (method, re.sub(r"\{[^}]+\}", "x", route.path))
            for route in app.routes
            if isinstance(route, HTTPRoute) and not route.path.startswith(("/api/", "/v1/"))
            for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}
        }
    )
    assert len(unsafe) > 30
    passed = []
    for method, path in unsafe:
        response = client.request(method, path, data={"name": "x"}, headers={"hx-request": "true"})
        if response.status_code != 403 or response.json()["error"]["code"] != "csrf_failed":
            passed.append((method, path, response.status_code))
    assert not passed, passed
