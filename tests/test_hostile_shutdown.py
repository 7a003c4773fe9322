"""A graceful stop in the middle of replies: uvicorn waits, then cancels what still runs. The stream ends as a
complete HTTP response, a client still waiting gets a 503 `shutting_down`, nothing is logged or counted as a
500, and no CancelledError traceback reaches the log."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from bostonia.app import Services
from tests.fakes import ScriptedModel
from tests.helpers import SSE, bearer, free_port, new_conversation, register


def test_a_stop_mid_reply_ends_requests_cleanly(
    app: Litestar, services: Services, model: ScriptedModel, caplog: pytest.LogCaptureFixture
) -> None:
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{config.port}"
    gate = model.hold()  # replies stop after their first piece until the gate opens
    results: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        first, second = new_conversation(client, alice), new_conversation(client, alice)
    first_piece = threading.Event()

    def stream() -> None:
        with (
            httpx.Client(base_url=url, timeout=30) as client,
            client.stream(
                "POST",
                f"/api/v1/conversations/{first['id']}/messages",
                json={"content": "Hi"},
                headers={**bearer(alice), **SSE},
            ) as response,
        ):
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if "stream:start" in line:
                    first_piece.set()
            results["stream"] = (response.status_code, lines)

    def wait_for_json() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            response = client.post(
                f"/api/v1/conversations/{second['id']}/messages", json={"content": "Hello"}, headers=bearer(alice)
            )
            results["json"] = (response.status_code, response.json())

    caplog.set_level(logging.INFO)
    clients = [threading.Thread(target=stream), threading.Thread(target=wait_for_json)]
    for client_thread in clients:
        client_thread.start()
    assert first_piece.wait(10)
    time.sleep(0.3)  # the JSON request is waiting for its reply too
    server.should_exit = True
    for client_thread in clients:
        client_thread.join(20)
    gate.set()
    thread.join(30)

    status, lines = results["stream"]
    assert status == 200 and any("stream:start" in line for line in lines)  # ended, not broken off
    status, body = results["json"]
    assert status == 503 and body["error"]["code"] == "shutting_down"
    text = "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records)
    assert "CancelledError" not in text and "Exception in ASGI application" not in text, text[-2000:]
    counted = services.metrics.render().decode()
    assert not [line for line in counted.splitlines() if 'status="500"' in line and not line.startswith("#")]
    assert 'status="503"' in counted
