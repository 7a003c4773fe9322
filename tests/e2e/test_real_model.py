"""The bundled SmolLM2 GGUF, for real: a reply streams token by token and is stored."""

from __future__ import annotations

import httpx
import pytest

from bostonia.llm.local import BUNDLED_FILE
from tests.helpers import bearer, parse_sse, register

pytestmark = pytest.mark.model


def test_a_real_reply_streams_and_is_persisted(real_client: httpx.Client) -> None:
    alice = register(real_client, "alice@example.com", name="Alice")
    character = real_client.get("/api/v1/characters").json()["items"][0]
    conversation = real_client.post(
        "/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(alice)
    ).json()
    with real_client.stream(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Hello! Who are you?"},
        headers={**bearer(alice), "accept": "text/event-stream"},
    ) as response:
        events = list(parse_sse(response.iter_lines()))
    names = [name for name, _ in events]
    assert names[0] == "message:stream:start" and names[-1] == "message:stream:complete", names
    chunks = [data["content"] for name, data in events if name == "message:stream:chunk"]
    assert len(chunks) >= 3  # token by token, not one blob
    reply = events[-1][1]["message"]
    assert reply["content"].strip() and reply["model_used"] == BUNDLED_FILE.removesuffix(".gguf")
    assert 0 < reply["tokens_used"] <= 45
    stored = real_client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(alice)).json()
    assert [m["role"] for m in stored["items"]] == ["assistant", "user", "assistant"]
    assert stored["items"][-1] == reply
    metrics = real_client.get("/metrics").text
    ttft = [line for line in metrics.splitlines() if line.startswith("bostonia_time_to_first_token_seconds_count")]
    assert ttft == ["bostonia_time_to_first_token_seconds_count 1.0"], ttft
