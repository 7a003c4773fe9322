from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from tests.fakes import ScriptedModel
from tests.helpers import (
    SSE,
    bearer,
    error_of,
    first_character,
    make_settings,
    messages,
    new_conversation,
    parse_sse,
    register,
    stream_events,
)


def test_new_conversation_starts_with_the_greeting(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice)
    assert conversation["title"] == "" and conversation["message_count"] == 1
    greeting = messages(client, alice, conversation["id"])
    assert len(greeting) == 1
    assert greeting[0]["role"] == "assistant" and greeting[0]["parent_id"] is None
    assert greeting[0]["content"] and "{{" not in greeting[0]["content"]
    listed = client.get("/api/v1/conversations", headers=bearer(alice)).json()["items"]
    assert [c["id"] for c in listed] == [conversation["id"]]


def test_greeting_macros_name_the_user(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice, "Juniper Ashdown")
    # The bundled card's scenario/greeting uses {{user}} nowhere in the greeting, so check the
    # card text was expanded where it did: no raw macro survives anywhere in the stored greeting.
    assert "{{char}}" not in messages(client, alice, conversation["id"])[0]["content"]


def test_send_message_as_json(client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel) -> None:
    conversation = new_conversation(client, alice)
    model.enqueue(["Well", " met", ", traveller."])
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "  Hello!  "}, headers=bearer(alice)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    user_message, reply = body["user_message"], body["assistant_message"]
    assert user_message["role"] == "user" and user_message["content"] == "Hello!"
    assert reply["role"] == "assistant" and reply["content"] == "Well met, traveller."
    assert reply["parent_id"] == user_message["id"]
    assert reply["model_used"] == "scripted" and reply["tokens_used"] == 3 and reply["status"] == "complete"
    stored = messages(client, alice, conversation["id"])
    assert [m["id"] for m in stored[1:]] == [user_message["id"], reply["id"]]
    assert user_message["parent_id"] == stored[0]["id"]
    for message in stored:
        assert {"id", "role", "content", "parent_id", "created_at", "model_used", "tokens_used"} <= set(message)
    assert client.get(f"/api/v1/conversations/{conversation['id']}", headers=bearer(alice)).json()["title"] == "Hello!"


def test_the_prompt_carries_the_card_and_the_history(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    character = first_character(client)
    conversation = new_conversation(client, alice)
    client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "What is this place?"},
        headers=bearer(alice),
    )
    prompt = model.prompts[-1]
    assert prompt[0].role == "system"
    assert character["personality"] in prompt[0].content
    assert "{{char}}" not in prompt[0].content and "{{user}}" not in prompt[0].content
    assert character["name"] in prompt[0].content and "Alice" in prompt[0].content
    assert [m.role for m in prompt[1:]] == ["assistant", "user"]
    assert prompt[-1].content == "What is this place?"
    assert "\nAlice:" in model.params[-1].stop


def test_send_message_streams_server_sent_events(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = new_conversation(client, alice)
    model.enqueue([" Once", " upon", " a", " time."])
    events = stream_events(client, alice, conversation["id"], "Tell me a story")
    names = [name for name, _ in events]
    # Pieces that arrive together go out as one chunk (at most 20 hand-overs a second): at least one chunk.
    chunk_count = names.count("message:stream:chunk")
    assert chunk_count >= 1
    assert names == ["message:stream:start"] + ["message:stream:chunk"] * chunk_count + ["message:stream:complete"]
    start, complete = events[0][1], events[-1][1]["message"]
    chunks = "".join(data["content"] for name, data in events if name == "message:stream:chunk")
    assert chunks == "Once upon a time."  # leading whitespace is not streamed
    assert complete["id"] == start["id"] and complete["content"] == chunks
    assert messages(client, alice, conversation["id"])[-1] == complete


def test_finished_reply_can_be_fetched_as_a_stream(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice)
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
    ).json()["assistant_message"]
    with client.stream(
        "GET", f"/api/v1/conversations/{conversation['id']}/messages/{reply['id']}/stream", headers=bearer(alice)
    ) as response:
        events = list(parse_sse(response.iter_lines()))
    assert [name for name, _ in events] == ["message:stream:start", "message:stream:complete"]
    assert events[-1][1]["message"] == reply


def test_a_disconnected_client_does_not_lose_the_reply(live: httpx.Client, model: ScriptedModel) -> None:
    alice = register(live, "alice@example.com", name="Alice")
    conversation = new_conversation(live, alice)
    gate = model.hold()
    with live.stream(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Hi"},
        headers={**bearer(alice), **SSE},
    ) as response:
        events = parse_sse(response.iter_lines())
        assert next(events)[0] == "message:stream:start"
        assert next(events)[0] == "message:stream:chunk"
    gate.set()  # the client is gone; the model finishes anyway
    reply_id = None
    for _ in range(200):
        stored = messages(live, alice, conversation["id"])
        if stored[-1]["role"] == "assistant" and len(stored) == 3:
            reply_id = stored[-1]["id"]
            break
        live.get("/health")
    assert reply_id is not None
    assert stored[-1]["content"] == "Hello from the scripted model." and stored[-1]["status"] == "complete"


def test_generation_does_not_block_other_requests(live: httpx.Client, model: ScriptedModel) -> None:
    alice = register(live, "alice@example.com", name="Alice")
    conversation = new_conversation(live, alice)
    gate = model.hold()  # the model now blocks its thread until released
    with live.stream(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Hi"},
        headers={**bearer(alice), **SSE},
    ) as response:
        events = parse_sse(response.iter_lines())
        next(events), next(events)
        # Inference is mid-reply and blocked: the event loop must still serve everyone else.
        assert live.get("/api/v1/characters").status_code == 200
        busy = live.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "again"}, headers=bearer(alice)
        )
        assert busy.status_code == 409 and error_of(busy)["code"] == "reply_in_progress"
        gate.set()
        assert [name for name, _ in events][-1] == "message:stream:complete"


def test_cancel_keeps_the_partial_reply(live: httpx.Client, model: ScriptedModel) -> None:
    alice = register(live, "alice@example.com", name="Alice")
    conversation = new_conversation(live, alice)
    model.hold()
    with live.stream(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Hi"},
        headers={**bearer(alice), **SSE},
    ) as response:
        events = parse_sse(response.iter_lines())
        next(events), next(events)
        cancelled = live.post(f"/api/v1/conversations/{conversation['id']}/cancel", headers=bearer(alice))
        assert cancelled.json() == {"cancelled": True}
        final = list(events)[-1]
    assert final[0] == "message:stream:complete"
    assert final[1]["message"]["status"] == "partial" and final[1]["message"]["content"] == "Hello"
    assert messages(live, alice, conversation["id"])[-1]["status"] == "partial"
    idle = live.post(f"/api/v1/conversations/{conversation['id']}/cancel", headers=bearer(alice))
    assert idle.json() == {"cancelled": False}


def test_model_failure_is_reported_not_a_500(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = new_conversation(client, alice)
    model.enqueue(RuntimeError("the GPU caught fire"))
    events = stream_events(client, alice, conversation["id"], "Hi")
    assert events[-1][0] == "error" and events[-1][1]["code"] == "generation_failed"
    assert "GPU" not in events[-1][1]["message"]  # internals are logged, not shown
    model.enqueue(RuntimeError("again"))
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi?"}, headers=bearer(alice)
    )
    assert response.status_code == 503 and error_of(response)["code"] == "generation_failed"
    # The user's messages are kept (they can retry); no assistant message was invented.
    assert [m["role"] for m in messages(client, alice, conversation["id"])] == ["assistant", "user", "user"]


def test_empty_replies_are_retried(client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel) -> None:
    conversation = new_conversation(client, alice)
    model.enqueue([""], ["  ", "\n"], ["At", " last."])
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
    ).json()["assistant_message"]
    assert reply["content"] == "At last."
    assert model.params[-1].temperature > model.params[0].temperature


def test_a_reply_that_stays_empty_is_an_error(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = new_conversation(client, alice)
    model.enqueue([""], [""], [""])
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
    )
    assert response.status_code == 503 and error_of(response)["code"] == "empty_reply"


def test_the_characters_name_prefix_is_trimmed(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = new_conversation(client, alice, "Juniper Ashdown")
    model.enqueue(["Juniper:", " Welcome in!"])
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
    ).json()["assistant_message"]
    assert reply["content"] == "Welcome in!"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"content": ""}, 400, "validation_error"),
        ({"content": "   "}, 422, "invalid_input"),
        ({"content": 42}, 400, "validation_error"),
        ({"text": "hi"}, 400, "validation_error"),
        ({"content": "x" * 16001}, 422, "message_too_long"),
    ],
)
def test_bad_messages_are_rejected_and_change_nothing(
    client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any], status: int, code: str
) -> None:
    conversation = new_conversation(client, alice)
    response = client.post(f"/api/v1/conversations/{conversation['id']}/messages", json=body, headers=bearer(alice))
    assert response.status_code == status and error_of(response)["code"] == code
    assert len(messages(client, alice, conversation["id"])) == 1


def test_unknown_ids_are_404(client: TestClient[Any], alice: dict[str, Any]) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    auth = bearer(alice)
    assert client.post("/api/v1/conversations", json={"character_id": missing}, headers=auth).status_code == 404
    for method, path in [
        ("GET", f"/api/v1/conversations/{missing}"),
        ("DELETE", f"/api/v1/conversations/{missing}"),
        ("GET", f"/api/v1/conversations/{missing}/messages"),
        ("POST", f"/api/v1/conversations/{missing}/cancel"),
    ]:
        response = client.request(method, path, headers=auth)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found", (method, path)
    response = client.post(f"/api/v1/conversations/{missing}/messages", json={"content": "hi"}, headers=auth)
    assert response.status_code == 404


def test_anonymous_requests_are_401(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice)
    for method, path in [
        ("GET", "/api/v1/conversations"),
        ("POST", "/api/v1/conversations"),
        ("GET", f"/api/v1/conversations/{conversation['id']}"),
        ("GET", f"/api/v1/conversations/{conversation['id']}/messages"),
        ("POST", f"/api/v1/conversations/{conversation['id']}/messages"),
        ("DELETE", f"/api/v1/conversations/{conversation['id']}"),
    ]:
        response = client.request(method, path, json={"content": "x", "character_id": "x"})
        assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated", (method, path)


def test_other_users_cannot_see_or_touch_a_conversation(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    conversation = new_conversation(client, alice)
    cid = conversation["id"]
    for method, path, body in [
        ("GET", f"/api/v1/conversations/{cid}", None),
        ("GET", f"/api/v1/conversations/{cid}/messages", None),
        ("POST", f"/api/v1/conversations/{cid}/messages", {"content": "hijack"}),
        ("POST", f"/api/v1/conversations/{cid}/cancel", None),
        ("DELETE", f"/api/v1/conversations/{cid}", None),
    ]:
        response = client.request(method, path, json=body, headers=bearer(bob))
        assert response.status_code == 404, (method, path, response.status_code)
    assert client.get("/api/v1/conversations", headers=bearer(bob)).json()["items"] == []
    assert len(messages(client, alice, cid)) == 1  # untouched


def test_delete_conversation(client: TestClient[Any], alice: dict[str, Any]) -> None:
    conversation = new_conversation(client, alice)
    client.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice))
    response = client.delete(f"/api/v1/conversations/{conversation['id']}", headers=bearer(alice))
    assert response.status_code == 204
    assert client.get(f"/api/v1/conversations/{conversation['id']}", headers=bearer(alice)).status_code == 404
    assert client.get("/api/v1/conversations", headers=bearer(alice)).json()["items"] == []


def test_long_history_is_trimmed_to_the_context(
    alice: dict[str, Any], client: TestClient[Any], model: ScriptedModel
) -> None:
    model.context_size = 700  # max_tokens (300) + margin leave ~370 tokens for the prompt
    conversation = new_conversation(client, alice)
    for index in range(12):
        model.enqueue([f"reply {index} " + "word " * 20])
        client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"content": f"message {index} " + "word " * 20},
            headers=bearer(alice),
        )
    prompt = model.prompts[-1]
    assert prompt[0].role == "system"
    assert [m for m in prompt if m.role == "user"][-1].content.startswith("message 11")
    assert not any(m.content.startswith("message 0 ") for m in prompt)  # the oldest turns were dropped
    assert sum(model.count_tokens(m.content) + 8 for m in prompt) <= 700 - 300


def test_settings_fixture_uses_the_scripted_model() -> None:
    assert make_settings().llm.default_model == "scripted"


def test_a_waiting_reply_is_told_its_place_in_the_queue(live: httpx.Client, model: ScriptedModel) -> None:
    alice, bob = register(live, "alice@example.com"), register(live, "bob@example.com")
    first, second = new_conversation(live, alice), new_conversation(live, bob)
    gate = model.hold()
    with live.stream(
        "POST",
        f"/api/v1/conversations/{first['id']}/messages",
        json={"content": "Hi"},
        headers={**bearer(alice), **SSE},
    ) as running:
        events = parse_sse(running.iter_lines())
        next(events), next(events)  # alice's reply is generating (and held)
        with live.stream(
            "POST",
            f"/api/v1/conversations/{second['id']}/messages",
            json={"content": "Hi"},
            headers={**bearer(bob), **SSE},
        ) as waiting:
            bob_events = parse_sse(waiting.iter_lines())
            assert next(bob_events)[0] == "message:stream:start"
            queued = next(bob_events)
            assert queued[0] == "message:queued" and queued[1]["position"] == 1
            gate.set()
            assert [name for name, _ in bob_events][-1] == "message:stream:complete"


def test_a_chat_outlives_its_character_becoming_private_or_deleted(
    client: TestClient[Any], services: Any, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    from bostonia.cards.model import parse_card

    with client.portal() as portal:
        portal.call(
            lambda: services.characters.characters.create_from_card(
                "shared-1",
                parse_card({"name": "Wren", "first_mes": "Hi."}),
                creator_id=alice["user"]["id"],
                visibility="public",
            )
        )
    cid = client.post("/api/v1/conversations", json={"character_id": "shared-1"}, headers=bearer(bob)).json()["id"]
    with client.portal() as portal:
        portal.call(
            lambda: services.db.execute_write(
                "update characters set visibility = 'private', deleted_at = '2026-01-01T00:00:00Z'"
                " where id = 'shared-1'"
            )
        )
    assert client.get("/api/v1/characters/shared-1", headers=bearer(bob)).status_code == 404
    reply = client.post(f"/api/v1/conversations/{cid}/messages", json={"content": "Still there?"}, headers=bearer(bob))
    assert reply.status_code == 201  # bob's own chat goes on
    assert (
        client.post("/api/v1/conversations", json={"character_id": "shared-1"}, headers=bearer(bob)).status_code == 404
    )  # but no new ones
