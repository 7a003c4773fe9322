from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.observability.logs import JsonFormatter, request_id
from tests.helpers import bearer, error_of


def test_health(client: TestClient[Any]) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def wait_ready(client: TestClient[Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while (response := client.get("/ready")).status_code == 503 and response.json()["status"] == "warming":
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.1)
    return response


def test_ready_reports_sqlite_vec_and_migrations(client: TestClient[Any]) -> None:
    body = wait_ready(client).json()
    assert body["status"] == "ready" and body["vec_version"].startswith("v") and body["pending_migrations"] == []


def test_ready_says_warming_while_a_model_loads(client: TestClient[Any], services: Services) -> None:
    """A server whose first message would wait for a model load is not ready yet (and says what it loads)."""
    wait_ready(client)
    loading: Future[None] = Future()
    services.warming.track("chat model", loading)
    response = client.get("/ready")
    assert response.status_code == 503 and response.json()["warming"] == ["chat model"]
    loading.set_result(None)
    assert client.get("/ready").json()["status"] == "ready"


def test_ready_fails_when_sqlite_vec_is_missing(
    client: TestClient[Any], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bostonia.db import health

    async def no_vec(db):  # type: ignore[no-untyped-def]
        return await db.read(lambda conn: conn.execute("select vec_nonexistent_function()").fetchone())

    monkeypatch.setattr("bostonia.observability.routes.readiness", no_vec)
    response = client.get("/ready")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert health.readiness  # the real check is untouched


def test_metrics_are_prometheus_text(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = client.post(
        "/api/v1/conversations",
        headers=bearer(alice),
        json={"character_id": client.get("/api/v1/characters").json()["items"][0]["id"]},
    ).json()
    client.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "hi"}, headers=bearer(alice))
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "bostonia_http_request_duration_seconds",
        "bostonia_tokens_generated_total",
        "bostonia_time_to_first_token_seconds",
        "bostonia_generation_queue_depth",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'route="/api/v1/characters"' in text  # labelled by route template, not raw path
    assert "bostonia_tokens_generated_total 5.0" in text


def test_every_response_carries_a_request_id(client: TestClient[Any]) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/health", headers={"x-request-id": "trace-123"}).headers["x-request-id"] == "trace-123"


def test_json_log_lines_carry_the_request_id() -> None:
    token = request_id.set("abc123")
    try:
        record = logging.LogRecord("bostonia.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.status = 200
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "hello world" and line["request_id"] == "abc123" and line["status"] == 200


def test_unknown_routes_and_methods_are_json_errors(client: TestClient[Any]) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = client.put("/api/v1/characters")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_openapi_schema_lists_the_api(client: TestClient[Any]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "/api/v1/conversations/{conversation_id}/messages" in paths
    assert "/api/v1/auth/register" in paths
