"""The OpenAI-compatible API and `/api/v1/ai`, driven by the official `openai` client over a real socket;
per-user API keys (made, shown once, stored hashed, revoked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.llm.base import PromptTooLong
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import (
    bearer,
    error_of,
    first_character,
    make_settings,
    messages,
    new_conversation,
    parse_sse,
    register,
    serve_in_thread,
)

USER = [{"role": "user", "content": "Say hello."}]


def client_for(live: httpx.Client, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_the_openai_client_lists_models_and_completes_streaming_and_not(
    live: httpx.Client, model: ScriptedModel
) -> None:
    alice = register(live, "alice@example.com")
    client = client_for(live, alice["access_token"])
    assert {m.id for m in client.models.list()} == {"scripted", "SmolLM2-135M-Instruct.Q4_1"}
    model.enqueue(["Hello", " there", "!"])
    answer = client.chat.completions.create(model="scripted", messages=USER, max_tokens=16, temperature=0.3, seed=7)
    assert answer.choices[0].message.content == "Hello there!" and answer.choices[0].finish_reason == "stop"
    assert (
        answer.model == "scripted" and answer.usage is not None and answer.usage.completion_tokens == 2
    )  # the fake counts words
    request = model.replies[-1]
    assert [(m.role, m.content) for m in request.messages] == [("user", "Say hello.")]
    assert request.params.max_tokens == 16 and request.params.temperature == 0.3 and request.params.seed == 7
    model.enqueue(["One", ",", " two", ",", " three"])
    stream = client.chat.completions.create(
        model="auto", messages=USER, stream=True, stream_options={"include_usage": True}, stop=["four"]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One, two, three" and model.replies[-1].params.stop == ("four",)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]


def test_json_schema_output_reaches_the_model_and_bad_requests_are_openai_errors(
    live: httpx.Client, model: ScriptedModel
) -> None:
    alice = register(live, "alice@example.com")
    client = client_for(live, alice["access_token"])
    schema = {"type": "object", "properties": {"mood": {"type": "string"}}, "required": ["mood"]}
    model.enqueue(['{"mood": ', '"sunny"}'])
    answer = client.chat.completions.create(
        model="scripted",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "mood", "schema": schema}},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"mood": "sunny"}
    assert model.replies[-1].json_schema == schema
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-9", messages=USER)
    assert missing.value.code == "model_not_found" and missing.value.type == "not_found_error"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="scripted", messages=USER, max_tokens=4000)
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as several:
        client.chat.completions.create(model="scripted", messages=USER, n=2)
    assert "n=1" in str(several.value)
    with pytest.raises(openai.AuthenticationError):
        client_for(live, "bst_not-a-real-key-at-all-0000000000").models.list()
    model.enqueue(["Tagged."])
    tagged = live.post(  # OpenAI's `user` tag is accepted whatever it holds (and ignored)
        "/v1/chat/completions", json={"messages": USER, "user": {"odd": 1}}, headers=bearer(alice)
    )
    assert tagged.status_code == 200 and tagged.json()["choices"][0]["message"]["content"] == "Tagged."
    raw = live.post("/v1/chat/completions", json={"model": "scripted", "messages": "hi"}, headers=bearer(alice))
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    embedded = client.embeddings.create(model="text-embedding-3-small", input=["hi there", "hello there"])
    first, second = (item.embedding for item in embedded.data)
    assert len(first) == 384 and abs(sum(x * x for x in first) - 1) < 1e-3  # unit length: a dot is a cosine
    assert first != second


def test_messages_the_model_finds_too_long_are_the_callers_error_and_the_model_is_not_held_to_have_failed(
    live: httpx.Client, model: ScriptedModel, services: Services
) -> None:
    """The exact count comes from the model's own template (900 empty messages are few tokens of text and
    thousands of the template's): a 400, no fallback, and the model keeps its place for the next request."""
    client = client_for(live, register(live, "alice@example.com")["access_token"])
    model.enqueue(PromptTooLong("the messages are 5020 tokens, more than the model's 4096-token context"))
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="scripted", messages=USER)
    assert too_long.value.code == "context_length_exceeded" and "5020 tokens" in str(too_long.value)
    assert not services.orchestrator.cooling("scripted")
    model.enqueue(["Fine."])
    assert client.chat.completions.create(model="scripted", messages=USER).choices[0].message.content == "Fine."


def test_api_keys_are_shown_once_stored_hashed_and_revocable(
    live: httpx.Client, model: ScriptedModel, services: Services
) -> None:
    alice = register(live, "alice@example.com")
    bob = register(live, "bob@example.com")
    made = live.post("/api/v1/users/me/api-keys", json={"name": "SillyTavern"}, headers=bearer(alice))
    assert made.status_code == 201
    secret, key = made.json()["secret"], made.json()["key"]
    assert secret.startswith("bst_") and len(secret) > 40 and key["prefix"] == secret[:10]
    listed = live.get("/api/v1/users/me/api-keys", headers=bearer(alice)).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]] and secret not in json.dumps(listed)
    stored = services.db.read_sync(lambda c: c.execute("select token_hash, prefix from auth_api_keys").fetchall())
    assert len(stored) == 1 and secret not in str(list(stored[0])) and len(stored[0][0]) == 64
    model.enqueue(["Keyed."])
    answer = client_for(live, secret).chat.completions.create(model="scripted", messages=USER)
    assert answer.choices[0].message.content == "Keyed."
    assert live.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}).json()["email"] == (
        "alice@example.com"
    )
    assert live.get("/api/v1/users/me/api-keys", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    # Bob cannot revoke Alice's key (404); Alice can, and the key stops working at once.
    assert live.delete(f"/api/v1/users/me/api-keys/{key['id']}", headers=bearer(bob)).status_code == 404
    assert live.delete(f"/api/v1/users/me/api-keys/{key['id']}", headers=bearer(alice)).status_code == 204
    assert live.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    usage = services.db.read_sync(lambda c: c.execute("select source, user_id from ai_usage").fetchall())
    assert [tuple(row) for row in usage] == [("api", alice["user"]["id"])]


def test_chatting_as_a_character_applies_the_card_and_stores_the_turn(live: httpx.Client, model: ScriptedModel) -> None:
    alice = register(live, "alice@example.com", name="Alice")
    character = first_character(live)
    client = client_for(live, alice["access_token"])
    model.enqueue(["Greetings", ", Alice."])
    answer = client.chat.completions.create(
        model="auto",
        messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": "Who are you?"}],
        extra_body={"bostonia": {"character_id": character["id"]}},
    )
    extension = answer.model_extra["bostonia"]  # type: ignore[index]
    conversation_id = extension["conversation_id"]
    assert answer.choices[0].message.content == "Greetings, Alice." and extension["character_id"] == character["id"]
    prompt = model.prompts[-1]
    assert character["personality"] in prompt[0].content and prompt[-1].content == "Who are you?"
    stored = messages(live, alice, conversation_id)
    assert [m["role"] for m in stored] == ["assistant", "user", "assistant"]
    assert stored[-1]["id"] == extension["message_id"] and stored[-1]["model_used"] == "scripted"
    model.enqueue(["Still", " me."])
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "And now?"}],
        stream=True,
        extra_body={"bostonia": {"conversation_id": conversation_id}},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Still me."
    assert [m["content"] for m in messages(live, alice, conversation_id)][-2:] == ["And now?", "Still me."]
    bob = register(live, "bob@example.com")
    with pytest.raises(openai.NotFoundError):  # someone else's conversation does not exist for Bob
        client_for(live, bob["access_token"]).chat.completions.create(
            model="auto", messages=USER, extra_body={"bostonia": {"conversation_id": conversation_id}}
        )
    assert len(messages(live, alice, conversation_id)) == 5


def test_the_seed_generate_endpoints_and_moderation(live: httpx.Client, model: ScriptedModel) -> None:
    alice = register(live, "alice@example.com")
    model.enqueue(["A", " haiku"])
    synced = live.post(
        "/api/v1/ai/generate/sync", json={"prompt": "Write a haiku", "system": "Be brief."}, headers=bearer(alice)
    )
    assert synced.status_code == 200, synced.text
    body = synced.json()
    assert body["text"] == "A haiku" and body["model"] == "scripted" and body["usage"]["completion_tokens"] == 2
    assert [m.role for m in model.replies[-1].messages] == ["system", "user"]
    model.enqueue(["Stream", "ed", "."])
    with live.stream("POST", "/api/v1/ai/generate", json={"prompt": "Go"}, headers=bearer(alice)) as response:
        events = list(parse_sse(response.iter_lines()))
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"token"}  # pieces arriving together are one token event
    assert "".join(data["text"] for name, data in events if name == "token") == "Streamed."
    assert events[-1][1]["model"] == "scripted" and events[-1][1]["usage"]["total_tokens"] == 2  # words, for the fake
    bad = live.post("/api/v1/ai/generate/sync", json={"prompt": "x", "messages": []}, headers=bearer(alice))
    assert bad.status_code == 422 and error_of(bad)["code"] == "invalid_input"
    verdict = live.post("/api/v1/ai/moderate", json={"text": "What a lovely day."}, headers=bearer(alice))
    assert verdict.status_code == 200 and verdict.json()["flagged"] is False
    models = live.get("/api/v1/ai/models", headers=bearer(alice)).json()
    by_id = {m["id"]: m for m in models["items"]}
    assert models["route"] == ["scripted"] and models["default_model"] == "scripted"
    assert by_id["scripted"]["state"] == "remote"  # a fake with no GGUF file behind it
    bundled = by_id["SmolLM2-135M-Instruct.Q4_1"]
    assert bundled["source"] == "bundled" and bundled["quantization"] == "Q4_1" and bundled["state"] == "unloaded"


@pytest.mark.model
def test_json_schema_output_from_the_bundled_model_follows_the_schema(tmp_path: Any) -> None:
    """The real local model under a JSON schema (the engine's grammar): what it writes parses and fits."""
    settings = make_settings(llm={"default_model": "SmolLM2-135M-Instruct.Q4_1", "parallel": 1, "threads": 1})
    services = build_services(settings, make_plugin_manager([]))
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    with serve_in_thread(create_app(settings, services=services)) as url, httpx.Client(base_url=url) as live:
        alice = register(live, "alice@example.com")
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=alice["access_token"], max_retries=0, timeout=300)
        answer = client.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1",
            messages=[{"role": "user", "content": "Invent a person. Reply in JSON with name and age."}],
            max_tokens=60,
            temperature=0,
            response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        )
    person = json.loads(answer.choices[0].message.content or "")
    assert set(person) == {"name", "age"} and isinstance(person["age"], int) and isinstance(person["name"], str)
    assert answer.usage is not None and answer.usage.prompt_tokens > 10


@pytest.fixture
def limited() -> Iterator[tuple[TestClient[Any], ScriptedModel]]:
    settings = make_settings(rate_limits={"free": 3, "anonymous": 100})
    scripted = ScriptedModel()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(scripted))
    with TestClient(create_app(settings, services=build_services(settings, plugins))) as client:
        yield client, scripted


def test_the_api_is_rate_limited_like_everything_else(limited: tuple[TestClient[Any], ScriptedModel]) -> None:
    client, _ = limited
    alice = register(client, "alice@example.com")
    key = client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=bearer(alice)).json()["secret"]
    statuses = [
        client.post(
            "/v1/chat/completions", json={"messages": USER, "max_tokens": 4}, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 429 and statuses[0] == 200
    refused = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"


def test_a_conversation_started_elsewhere_is_continued_by_id(client: TestClient[Any], model: ScriptedModel) -> None:
    alice = register(client, "alice@example.com")
    conversation = new_conversation(client, alice)
    model.enqueue(["Yes."])
    answer = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Still there?"}]}],
            "bostonia": {"conversation_id": conversation["id"]},
        },
        headers=bearer(alice),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["bostonia"]["conversation_id"] == conversation["id"]
    assert messages(client, alice, conversation["id"])[-2]["content"] == "Still there?"
