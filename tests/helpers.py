"""Helpers the test modules share (not fixtures: those are in conftest.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.config import Settings, load_settings
from bostonia.http.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER

PASSWORD = "correct horse battery"
SSE = {"accept": "text/event-stream"}


# Tests make many requests quickly; rate-limit tests ask for small limits explicitly.
GENEROUS_RATE_LIMITS = {"free": 100_000, "plus": 100_000, "pro": 100_000, "creator": 100_000, "anonymous": 100_000}


def make_settings(**overrides: Any) -> Settings:
    return load_settings(
        None,
        overrides={
            "llm": {"default_model": "scripted"},
            "rate_limits": GENEROUS_RATE_LIMITS,
            # Moderation runs in every test app with its rules and classifier; the embedding model (torch,
            # seconds to load) only where a test asks for it (tests/test_moderation_e2e.py).
            "moderation": {"similarity": False},
            # Recall indexes every message: word hashing keeps the embedding model (torch) out of most tests;
            # extraction and summaries would ask the scripted model for text the tests queued for replies.
            "memory": {"embedder": "hashing", "extraction": False, "summaries": False},
            **overrides,
        },
    )


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


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a JSON error response (asserting the documented shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


HTML = {"accept": "text/html"}


def add_character(
    services: Services,
    name: str,
    *,
    creator_id: str | None = None,
    visibility: str = "public",
    content_tier: str = "sfw",
) -> str:
    """A character row straight into the database (the catalogue API is another capability's)."""
    character_id = str(uuid.uuid4())
    services.db.write_sync(
        lambda conn: conn.execute(
            "insert into characters (id, creator_id, name, visibility, content_tier) values (?, ?, ?, ?, ?)",
            (character_id, creator_id, name, visibility, content_tier),
        )
    )
    return character_id


def sign_in(client: TestClient[Any], email: str = "alice@example.com") -> None:
    response = post_form(
        client, "/login", {"email": email, "password": "correct horse battery"}, follow_redirects=False
    )
    assert response.status_code == 303


def first_character(client: httpx.Client, name: str | None = None) -> dict[str, Any]:
    items = client.get("/api/v1/characters").json()["items"]
    return next(c for c in items if name is None or c["name"] == name)


def new_conversation(client: httpx.Client, account: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    character = first_character(client, name)
    response = client.post("/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()


def messages(client: httpx.Client, account: dict[str, Any], conversation_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(account))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    name, data = None, []
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line == "" and (name or data):
            yield name or "message", json.loads("\n".join(data))
            name, data = None, []


def stream_events(
    client: TestClient[Any], account: dict[str, Any], conversation_id: str, content: str
) -> list[tuple[str, Any]]:
    with client.stream(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": content},
        headers={**bearer(account), **SSE},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))


API = "/api/v1/conversations"


def send(client: TestClient[Any], account: dict[str, Any], cid: str, content: str) -> dict[str, Any]:
    response = client.post(f"{API}/{cid}/messages", json={"content": content}, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()
