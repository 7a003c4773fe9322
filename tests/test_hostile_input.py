"""Hostile input: JSON nested too deep, bodies and free-form fields too large, WebSocket frames that are binary,
deep or oversized. Each gets a clear 4xx (or an `error` event) and changes nothing."""

from __future__ import annotations

import json
import time
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bostonia.characters.schemas import FREE_FORM_LIMITS, Character
from bostonia.config import Settings
from bostonia.http.limits import MAX_FRAME_BYTES
from bostonia.json_limits import MAX_JSON_DEPTH, nesting_depth_exceeds
from tests.helpers import PASSWORD, bearer, error_of, make_settings, new_conversation, register, send
from tests.live_server import server_process

MAX_BODY = 2_000_000


@pytest.fixture
def settings() -> Settings:
    return make_settings(server={"max_body_bytes": MAX_BODY})


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# -- the depth scan -------------------------------------------------------------------------------------


def test_depth_limit_is_exact_and_reads_strings_as_strings() -> None:
    assert not nesting_depth_exceeds(nested(MAX_JSON_DEPTH))
    assert nesting_depth_exceeds(nested(MAX_JSON_DEPTH + 1))
    assert nesting_depth_exceeds('{"a":' * 65 + "1" + "}" * 65)
    # Brackets inside strings (escaped quotes too) nest nothing; siblings are not depth.
    tricky = json.dumps({"text": "[" * 500 + '"\\"{{{' * 100, "list": [[1]] * 500})
    assert not nesting_depth_exceeds(tricky)
    assert not nesting_depth_exceeds(nested(MAX_JSON_DEPTH, json.dumps("]" * 300)))
    assert nesting_depth_exceeds(json.dumps({"ok": "[[[["}) + nested(200))


def test_the_scan_stays_cheap_on_a_large_bracket_heavy_body() -> None:
    body = ("[" + "[1,2]," * 3_000_000 + "[3]]").encode()  # 18 MB, 3 million brackets, depth 2
    started = time.perf_counter()
    assert not nesting_depth_exceeds(body)
    assert time.perf_counter() - started < 2.0  # a Python loop over the brackets would take several seconds


# -- HTTP: depth, body size, free-form fields ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [900, 1000, 50_000])
def test_deep_json_is_a_400_before_authentication(client: TestClient[Any], depth: int) -> None:
    body = nested(depth)
    for path in ("/api/v1/auth/register", "/api/v1/characters", "/v1/chat/completions"):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "too_deep"
    # Not even the content type matters: Litestar would decode any non-form body as JSON.
    response = client.post("/api/v1/auth/register", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 400 and error_of(response)["details"] == {"max_depth": MAX_JSON_DEPTH}


def test_deep_json_inside_a_valid_body_changes_nothing(client: TestClient[Any], alice: dict[str, Any]) -> None:
    created = client.post("/api/v1/characters", json={"name": "Deep"}, headers=bearer(alice)).json()
    raw = '{"extensions": {"x": ' + nested(1000) + "}}"
    response = client.patch(
        f"/api/v1/characters/{created['id']}",
        content=raw,
        headers={**bearer(alice), "content-type": "application/json"},
    )
    assert response.status_code == 400 and error_of(response)["code"] == "too_deep"
    assert client.get(f"/api/v1/characters/{created['id']}", headers=bearer(alice)).json()["extensions"] == {}
    # Legitimate nesting (well within the limit) is stored as sent.
    fine = json.loads(nested(40))
    response = client.patch(
        f"/api/v1/characters/{created['id']}", json={"extensions": {"x": fine}}, headers=bearer(alice)
    )
    assert response.status_code == 200 and response.json()["extensions"] == {"x": fine}


def test_a_body_over_the_limit_is_a_413_in_the_error_shape(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/characters",
        content=json.dumps({"name": "Big", "description": "x" * MAX_BODY}),
        headers={**bearer(alice), "content-type": "application/json"},
    )
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large" and error["details"] == {"max_bytes": MAX_BODY}
    assert str(MAX_BODY) in error["message"]


def test_a_15_mb_extensions_value_is_refused_naming_the_field(client: TestClient[Any], alice: dict[str, Any]) -> None:
    created = client.post("/api/v1/characters", json={"name": "Bulky"}, headers=bearer(alice)).json()
    for method, path, body in (
        ("PATCH", f"/api/v1/characters/{created['id']}", {"extensions": {"blob": "x" * 1_500_000}}),
        ("POST", "/api/v1/characters", {"name": "Bulkier", "extensions": {"blob": "x" * 1_500_000}}),
        ("POST", "/api/v1/characters", {"name": "Fussy", "settings": {"stop": ["x" * 20_000]}}),
        ("PATCH", f"/api/v1/characters/{created['id']}", {"card_extra": {"assets": ["y" * 200_000]}}),
    ):
        response = client.request(method, path, json=body, headers=bearer(alice))
        assert response.status_code == 413, (method, body.keys(), response.text[:200])
        error = error_of(response)
        field = next(iter(set(body) - {"name"}))
        assert error["code"] == "field_too_large" and error["details"]["field"] == field
        assert f"`{field}`" in error["message"]
    names = [c["name"] for c in client.get("/api/v1/characters", headers=bearer(alice)).json()["items"]]
    assert "Bulky" in names and "Bulkier" not in names and "Fussy" not in names  # the caller's own are listed
    after = client.get(f"/api/v1/characters/{created['id']}", headers=bearer(alice)).json()
    assert after["extensions"] == {} and after["card_extra"] == {}


def test_every_free_form_field_of_a_listed_character_is_bounded() -> None:
    """Catalogue pages and search answers list whole characters: each dict-valued field needs a size cap,
    or a 15 MB value would be sent to every anonymous visitor."""
    hints = typing.get_type_hints(Character)
    free_form = {name for name, hint in hints.items() if "dict[" in str(hint)}
    assert free_form and free_form <= set(FREE_FORM_LIMITS)
    assert all(limit <= 128 * 1024 for name, limit in FREE_FORM_LIMITS.items() if name in free_form)


def test_imported_cards_and_chats_have_the_same_caps(client: TestClient[Any], alice: dict[str, Any]) -> None:
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": "Heavy", "first_mes": "Hi", "extensions": {"blob": "z" * 100_000}},
    }
    response = client.post(
        "/api/v1/characters/import",
        files={"file": ("heavy.json", json.dumps(card).encode(), "application/json")},
        headers=bearer(alice),
    )
    assert response.status_code == 413  # one file: its own status
    assert error_of(response)["code"] == "field_too_large" and error_of(response)["details"]["field"] == "extensions"
    listed = client.get("/api/v1/characters", headers=bearer(alice)).json()["items"]
    assert "Heavy" not in [c["name"] for c in listed]

    character = client.get("/api/v1/characters").json()["items"][0]
    line = {"name": "A", "is_user": True, "mes": "hello", "extra": {"blob": "m" * 100_000}}
    chat = (json.dumps({"user_name": "A"}) + "\n" + json.dumps(line) + "\n").encode()
    response = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character["id"]},
        files={"file": ("chat.jsonl", chat, "application/octet-stream")},
        headers=bearer(alice),
    )
    assert response.status_code == 413 and error_of(response)["details"]["field"] == "messages[0].metadata"
    deep = (json.dumps({"user_name": "A"}) + "\n" + '{"mes": "x", "extra": ' + nested(2000) + "}\n").encode()
    response = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character["id"]},
        files={"file": ("chat.jsonl", deep, "application/octet-stream")},
        headers=bearer(alice),
    )
    assert response.status_code == 400 and error_of(response)["code"] == "too_deep"
    assert client.get("/api/v1/conversations", headers=bearer(alice)).json()["items"] == []


# -- the small cases ----------------------------------------------------------------------------------------


def test_a_missing_body_says_so(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/auth/register")
    assert response.status_code == 400
    assert error_of(response)["message"] == "a JSON request body is required"


def test_metrics_name_their_charset_once(client: TestClient[Any]) -> None:
    content_type = client.get("/metrics").headers["content-type"]
    assert content_type.count("charset") == 1 and content_type.startswith("text/plain; version=0.0.4")


def test_metrics_count_the_status_the_client_received(client: TestClient[Any]) -> None:
    response = client.get("/health", headers={"content-type": "multipart/form-data"})
    assert response.status_code == 400  # Litestar's CSRF middleware reads the (malformed) form
    metrics = client.get("/metrics").text
    health = [line for line in metrics.splitlines() if 'route="/health"' in line and "_count" in line]
    assert any('status="400"' in line and line.endswith(" 1.0") for line in health), health
    assert not any('status="500"' in line for line in health), health


def test_a_user_message_is_no_stream(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice)
    exchange = send(client, alice, conversation["id"], "Hello")
    base = f"/api/v1/conversations/{conversation['id']}/messages"
    response = client.get(f"{base}/{exchange['user_message']['id']}/stream", headers=bearer(alice))
    assert response.status_code == 404 and error_of(response)["code"] == "not_a_reply"
    reply = client.get(f"{base}/{exchange['assistant_message']['id']}/stream", headers=bearer(alice))
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")


# -- WebSocket ------------------------------------------------------------------------------------------------


def test_binary_and_deep_frames_get_clear_errors_and_the_socket_stays(live: httpx.Client) -> None:
    account = register(live, "alice@example.com", name="Alice")
    url = str(live.base_url).replace("http://", "ws://") + f"/ws?token={account['access_token']}"
    with connect(url, open_timeout=10) as ws:
        ws.send(b'{"event": "ping", "data": {}}')
        assert json.loads(ws.recv(timeout=10))["data"]["code"] == "binary_frame"
        ws.send('{"event": "ping", "data": {"x": ' + nested(1000) + "}}")
        error = json.loads(ws.recv(timeout=10))
        assert error["event"] == "error" and error["data"]["code"] == "too_deep"
        ws.send('{"event": "ping", "data": {"n": 1}}')
        assert json.loads(ws.recv(timeout=10)) == {"event": "pong", "data": {"n": 1}}


def test_bostonia_serve_refuses_oversized_frames_while_reading_them(tmp_path: Path) -> None:
    with server_process(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        account = register(client, "alice@example.com", password=PASSWORD)
        url = server.url.replace("http://", "ws://") + f"/ws?token={account['access_token']}"
        with connect(url, open_timeout=10) as ws:
            ws.send('{"event": "ping", "data": {}}')
            assert json.loads(ws.recv(timeout=10))["event"] == "pong"
            ws.send('{"event": "ping", "data": {"x": "' + "y" * (4 * MAX_FRAME_BYTES) + '"}}')
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
