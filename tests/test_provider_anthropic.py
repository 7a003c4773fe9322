"""The bostonia-anthropic plugin (official SDK) against a local server that speaks the Messages API's SSE
stream: the request it sends, usage from the stream, fallback on overload mid-reply and on rate limits,
a start-up error naming the key, and the key never logged."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import bostonia_anthropic
import httpx
import pytest

from bostonia.app import Services, build_services, create_app
from bostonia.errors import ConfigError
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, make_settings, new_conversation, register, serve_in_thread

KEY = "sk-ant-test-0123456789abcdef"


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def message_start(model: str) -> dict[str, Any]:
    message = {"id": "msg_test", "type": "message", "role": "assistant", "content": [], "model": model}
    usage = {"input_tokens": 42, "output_tokens": 1}
    return {"type": "message_start", "message": {**message, "stop_reason": None, "stop_sequence": None, "usage": usage}}


def text_delta(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


MESSAGE_DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {"output_tokens": 7},
}
BLOCK_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}


class MessagesServer:
    """`POST /v1/messages` with `stream: true`, answered from a queue of scripts: a list of text pieces (an
    `"!overloaded"` among them sends an error event there), or a status code to answer with instead."""

    def __init__(self) -> None:
        self.scripts: list[list[str] | int] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                # SDK releases send the key as x-api-key or as a Bearer token: both are the Messages API's.
                if KEY not in (self.headers.get("x-api-key"), self.headers.get("Authorization", "")[7:]):
                    return self.reply_json(401, error_body("authentication_error", "invalid x-api-key"))
                script = server.scripts.pop(0) if server.scripts else ["Hello."]
                if isinstance(script, int):
                    return self.reply_json(script, error_body("rate_limit_error", "slow down"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.event("message_start", message_start(body["model"]))
                self.event("content_block_start", BLOCK_START)
                self.event("ping", {"type": "ping"})
                for piece in script:
                    if piece == "!overloaded":
                        self.event("error", error_body("overloaded_error", "Overloaded"))
                        return
                    self.event("content_block_delta", text_delta(piece))
                self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
                self.event("message_delta", MESSAGE_DELTA)
                self.event("message_stop", {"type": "message_stop"})

            def event(self, name: str, data: dict[str, Any]) -> None:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def reply_json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 429:
                    self.send_header("Retry-After", "90")
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def claude() -> Iterator[MessagesServer]:
    server = MessagesServer()
    yield server
    server.close()


def front(claude: MessagesServer, local: ScriptedModel, **table: Any) -> Services:
    settings = make_settings(
        llm={"default_model": "local"},
        models={"routes": {"free": ["anthropic/claude-test", "local"]}, "retry_failed_after_seconds": 0},
        plugins={
            "anthropic": {
                "api_key_env": "ANTHROPIC_TEST_KEY",
                "models": ["claude-test"],
                "base_url": claude.url,
                **table,
            }
        },
    )
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(local))
    plugins.register(bostonia_anthropic, name="anthropic")
    return build_services(settings, plugins)


def test_claude_answers_through_the_messages_api_and_falls_back_when_it_fails(
    claude: MessagesServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    local = ScriptedModel("local")
    services = front(claude, local)
    with (
        serve_in_thread(create_app(services.settings, services=services)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        alice = register(client, "alice@example.com", name="Alice")
        conversation = new_conversation(client, alice)

        def say(text: str) -> dict[str, Any]:
            response = client.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"content": text}, headers=bearer(alice)
            )
            assert response.status_code == 201, response.text
            return dict(response.json()["assistant_message"])

        claude.scripts.append(["Good", " day", ", Alice."])
        first = say("Hello!")
        usage = client.get("/api/v1/ai/usage", headers=bearer(alice)).json()["recent"][0]
        claude.scripts.append(["The", " story", " begins", "!overloaded"])
        local.enqueue([" and", " ends."])
        second = say("Tell me a story.")
        claude.scripts.append(429)
        local.enqueue(["Local", " again."])
        third = say("More?")
    assert first["content"] == "Good day, Alice." and first["model_used"] == "anthropic/claude-test"
    sent = claude.requests[0]
    assert sent["model"] == "claude-test" and sent["stream"] is True and "system" in sent
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]  # alternating, user first
    assert sent["messages"][-1]["content"] == "Hello!" and 0 <= sent["temperature"] <= 1
    assert claude.headers[0]["anthropic-version"]
    assert KEY in (claude.headers[0].get("x-api-key"), claude.headers[0].get("authorization", "")[7:])
    assert (usage["tokens_in"], usage["tokens_out"], usage["provider"]) == (42, 7, "anthropic")
    # Overloaded mid-reply: the partial stays and the local model continues it.
    assert second["content"] == "The story begins and ends." and second["model_used"] == "local"
    assert local.replies[0].messages[-1].content == "The story begins" and local.replies[0].continue_last
    # Rate limited (429 with Retry-After): the next model answers.
    assert third["content"] == "Local again." and third["metadata"]["fallbacks"][0]["reason"] == "rate_limited"
    assert KEY not in caplog.text


def test_a_continued_reply_is_an_assistant_prefill_and_json_is_asked_for_in_the_system_text() -> None:
    from bostonia_anthropic.model import messages_api_shape

    from bostonia.plugin_api import ChatMessage

    system, turns = messages_api_shape(
        (
            ChatMessage("system", "You are Juniper."),
            ChatMessage("assistant", "Welcome."),
            ChatMessage("user", "Hi"),
            ChatMessage("user", "Anyone?"),
            ChatMessage("assistant", "Yes, I am here "),
        ),
        {"type": "object"},
    )
    assert system.startswith("You are Juniper.") and '{"type": "object"}' in system
    assert turns == [
        {"role": "user", "content": "(The conversation begins.)"},
        {"role": "assistant", "content": "Welcome."},
        {"role": "user", "content": "Hi\n\nAnyone?"},
        {"role": "assistant", "content": "Yes, I am here"},
    ]


def test_a_missing_key_stops_the_start_naming_it(claude: MessagesServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_TEST_KEY", raising=False)
    with pytest.raises(ConfigError) as refused:
        front(claude, ScriptedModel("local"))
    assert "[plugins.anthropic] api_key_env" in refused.value.message and "ANTHROPIC_TEST_KEY" in refused.value.message
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", "wrong-key-but-long-enough")
    services = front(claude, local := ScriptedModel("local"))
    with (
        serve_in_thread(create_app(services.settings, services=services)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        local.enqueue(["Fallback."])
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
        ).json()["assistant_message"]
    assert reply["model_used"] == "local"  # a refused key is a failure like any other: the route goes on
