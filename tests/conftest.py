from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.auth import service as auth_service
from bostonia.config import Settings, load_settings
from bostonia.http.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir and no stray BOSTONIA_* settings from the shell.

    Password hashing is made cheap: argon2's production cost (~100 ms a hash) would dominate the suite.
    """
    monkeypatch.setattr(
        auth_service, "PasswordHasher", partial(PasswordHasher, time_cost=1, memory_cost=1024, parallelism=1)
    )
    for name in list(os.environ):
        if name.startswith("BOSTONIA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOSTONIA_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


# Tests make many requests quickly; rate-limit tests ask for small limits explicitly.
GENEROUS_RATE_LIMITS = {"free": 100_000, "plus": 100_000, "pro": 100_000, "creator": 100_000, "anonymous": 100_000}


def make_settings(**overrides: Any) -> Settings:
    return load_settings(
        None,
        overrides={
            "llm": {"default_model": "scripted"},
            "rate_limits": GENEROUS_RATE_LIMITS,
            # Recall indexes every message: word hashing keeps the embedding model (torch) out of most tests;
            # extraction and summaries would ask the scripted model for text the tests queued for replies.
            "memory": {"embedder": "hashing", "extraction": False, "summaries": False},
            **overrides,
        },
    )


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings, model: ScriptedModel) -> Services:
    pm = make_plugin_manager(load=[])
    pm.register(ModelPlugin(model))
    return build_services(settings, pm)


@pytest.fixture
def app(settings: Settings, services: Services) -> Litestar:
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Litestar) -> Iterator[str]:
    """Run the app on a real uvicorn server (real sockets, real streaming); yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_config=None, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def live(app: Litestar) -> Iterator[httpx.Client]:
    """An HTTP client talking to the app over a real socket (the in-process TestClient buffers streams)."""
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def register(client: httpx.Client, email: str, password: str = PASSWORD, name: str | None = None) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": name or email.split("@")[0]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def post_form(
    client: httpx.Client, url: str, data: dict[str, str] | None = None, *, htmx: bool = False, **kwargs: Any
) -> httpx.Response:
    """POST an HTML form (or, with `htmx=True`, an HTMX request) the way the browser sends it.

    Page tests go through here so browser-only concerns live in one place: like the browser, it sends the
    CSRF token from the cookie — in the form's hidden field, or in the `x-csrftoken` header for HTMX.
    """
    token = csrf_token(client)
    headers = {"hx-request": "true", CSRF_HEADER: token} if htmx else {}
    headers.update(kwargs.pop("headers", {}))
    data = dict(data or {})
    if not htmx:
        data.setdefault(CSRF_FIELD, token)
    return client.post(url, data=data, headers=headers, **kwargs)


def csrf_token(client: httpx.Client) -> str:
    """The CSRF token the browser would hold (the cookie set on the first page view)."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/health")
    return str(client.cookies[CSRF_COOKIE])


def bearer(account: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {account['access_token']}"}


@pytest.fixture
def alice(client: TestClient[Any]) -> dict[str, Any]:
    return register(client, "alice@example.com", name="Alice")


@pytest.fixture
def bob(client: TestClient[Any], alice: dict[str, Any]) -> dict[str, Any]:
    return register(client, "bob@example.com", name="Bob")


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a JSON error response (asserting the documented shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]
