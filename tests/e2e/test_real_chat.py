"""The chat engine on the real bundled model: regenerate and branch over HTTP, and continue. (Slot eviction
and KV-state restore on the real model: tests/test_engine_model.py.)"""

from __future__ import annotations

import httpx
import pytest

from bostonia.llm.base import ChatMessage, GenerationRequest, SamplingParams
from bostonia.llm.local import LlamaCppModel, bundled_model_path
from tests.helpers import bearer, register

pytestmark = pytest.mark.model
API = "/api/v1/conversations"


def test_regenerate_and_branch_with_the_real_model(real_client: httpx.Client) -> None:
    alice = register(real_client, "alice@example.com", name="Alice")
    character = real_client.get("/api/v1/characters").json()["items"][0]
    cid = real_client.post(API, json={"character_id": character["id"]}, headers=bearer(alice)).json()["id"]
    first = real_client.post(
        f"{API}/{cid}/messages", json={"content": "What do you see out there?"}, headers=bearer(alice)
    ).json()
    reply = first["assistant_message"]
    assert reply["content"].strip()
    again = real_client.post(f"{API}/{cid}/messages/{reply['id']}/regenerate", headers=bearer(alice))
    assert again.status_code == 201
    swipe = again.json()["assistant_message"]
    assert swipe["content"].strip() and swipe["parent_id"] == reply["parent_id"]
    path = real_client.get(f"{API}/{cid}/messages", headers=bearer(alice)).json()["items"]
    assert path[-1]["id"] == swipe["id"] and path[-1]["sibling_count"] == 2

    branch = real_client.post(
        f"{API}/{cid}/branch", json={"message_id": first["user_message"]["id"]}, headers=bearer(alice)
    ).json()
    answered = real_client.post(f"{API}/{branch['id']}/messages/{path[-2]['id']}/regenerate", headers=bearer(alice))
    assert answered.status_code == 404  # message ids belong to their own conversation
    branch_path = real_client.get(f"{API}/{branch['id']}/messages", headers=bearer(alice)).json()["items"]
    assert [m["content"] for m in branch_path] == [m["content"] for m in path[:2]]
    reply_in_branch = real_client.post(
        f"{API}/{branch['id']}/messages/{branch_path[-1]['id']}/regenerate", headers=bearer(alice)
    ).json()["assistant_message"]
    assert reply_in_branch["content"].strip()
    assert len(real_client.get(f"{API}/{cid}/messages", headers=bearer(alice)).json()["items"]) == 3


def greedy(max_tokens: int = 24) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=0.0, top_k=1, seed=1)


def generate(model: LlamaCppModel, messages: list[ChatMessage], session: str | None, **options: bool) -> str:
    request = GenerationRequest(messages=tuple(messages), params=greedy(), session=session, **options)
    return "".join(model.stream(request, lambda: False))


def test_continue_renders_the_last_message_open() -> None:
    path = bundled_model_path()
    assert path is not None
    model = LlamaCppModel(path, context_size=1024, parallel=1)
    chat = [ChatMessage("user", "Count to five."), ChatMessage("assistant", "One, two,")]
    rendered = model.render(chat, continue_last=True)
    assert rendered.endswith("One, two,")  # no end-of-turn marker: the model carries on in the same turn
    try:
        more = generate(model, chat, None, continue_last=True)
    finally:
        model.close()
    assert more.strip()
