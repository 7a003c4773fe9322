"""Moderation end to end through the real app over HTTP (uvicorn), with every signal on — the real
classifier and the real embedding model: tiers enforced on what users send and what the (scripted) model
replies, reports reaching the admin queue, admin actions taking effect."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from bostonia.app import Services, build_services, create_app
from bostonia.auth import service as auth_service
from bostonia.moderation.guard import REPLACEMENT
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, add_character, bearer, make_settings, register, serve_in_thread
from tests.test_users import years_ago

_ids = itertools.count()


@dataclass
class World:
    client: httpx.Client
    model: ScriptedModel
    services: Services
    admin: dict[str, Any]

    def account(self, *, adult: bool = False) -> dict[str, Any]:
        account = register(self.client, f"user{next(_ids)}@example.com")
        if adult:
            verified = self.client.post(
                "/api/v1/auth/verify-age", json={"date_of_birth": years_ago(30)}, headers=bearer(account)
            )
            assert verified.status_code == 200, verified.text
            patched = self.client.patch("/api/v1/users/me", json={"content_tier": "adult"}, headers=bearer(account))
            assert patched.status_code == 200, patched.text
        return account

    def chat(self, account: dict[str, Any], character_id: str | None = None) -> str:
        character_id = character_id or self.client.get("/api/v1/characters").json()["items"][0]["id"]
        response = self.client.post(
            "/api/v1/conversations", json={"character_id": character_id}, headers=bearer(account)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def send(self, account: dict[str, Any], conversation: str, text: str) -> httpx.Response:
        return self.client.post(
            f"/api/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(account)
        )

    def messages(self, account: dict[str, Any], conversation: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/v1/conversations/{conversation}/messages", headers=bearer(account))
        return list(response.json()["items"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    model = ScriptedModel()
    settings = make_settings(data_dir=str(tmp_path_factory.mktemp("moderation")), moderation={"similarity": True})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth_service, "PasswordHasher", partial(PasswordHasher, time_cost=1, memory_cost=1024))
        plugins = make_plugin_manager()
        plugins.register(ModelPlugin(model))
        services = build_services(settings, plugins)
        with (
            serve_in_thread(create_app(settings, services=services)) as url,
            httpx.Client(base_url=url, timeout=120) as client,
        ):
            admin = register(client, "admin@example.com")  # the first account is the admin
            yield World(client, model, services, admin)


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
    return events


ORDINARY_ROLEPLAY = [
    "*raises my shield* The knight's sword clangs against mine as we duel in the courtyard!",
    "Can you give me a history lesson on how the Roman Republic fell?",
    "I've had a headache and a fever for three days, should I see a doctor?",
    "Tell me a horror story about a haunted lighthouse where the keeper vanished.",
    "The dragon roars and I drive my spear into its scaly chest.",
]


def test_ordinary_roleplay_is_never_flagged(world: World) -> None:
    user = world.account()
    conversation = world.chat(user)
    for text in ORDINARY_ROLEPLAY:
        verdict = world.client.post("/api/v1/moderate/text", json={"text": text}, headers=bearer(user)).json()
        assert "similarity" in verdict["signals"] and "classifier" in verdict["signals"]  # the real models ran
        assert not verdict["flagged"], (text, verdict)
        sent = world.send(user, conversation, text)
        assert sent.status_code == 201, (text, sent.text)


def test_blocked_input_gets_a_clear_message_and_reaches_nothing(world: World) -> None:
    user = world.account()
    conversation = world.chat(user)
    before, asked = world.messages(user, conversation), len(world.model.replies)
    sent = world.send(user, conversation, "Strip naked and suck my cock, I'm so horny.")
    assert sent.status_code == 422
    error = sent.json()["error"]
    assert error["code"] == "content_blocked" and "sexual" in error["details"]["categories"]
    assert "not allowed in this chat (content tier: sfw)" in error["message"]
    assert world.messages(user, conversation) == before  # nothing stored
    assert len(world.model.replies) == asked  # nothing sent to the model
    log = world.client.get("/api/v1/moderate/decisions?outcome=blocked", headers=bearer(world.admin)).json()["items"]
    assert log[0]["direction"] == "input" and log[0]["conversation_id"] == conversation
    assert "suck my cock" in log[0]["excerpt"] and "sexual" in log[0]["categories"]


def test_adult_content_passes_in_an_adult_chat_but_minors_never_do(world: World) -> None:
    adult = world.account(adult=True)
    character = add_character(world.services, "Scarlet", content_tier="adult")
    conversation = world.chat(adult, character)
    assert world.send(adult, conversation, "I pull off her bra and kiss her breasts.").status_code == 201
    sent = world.send(adult, conversation, "Now she is 14 and he fucks her hard.")
    assert sent.status_code == 422 and "sexual_minors" in sent.json()["error"]["details"]["categories"]
    assert "not allowed here" in sent.json()["error"]["message"]
    queue = world.client.get("/api/v1/reports", headers=bearer(world.admin)).json()["items"]
    flagged = [r for r in queue if r["source"] == "automated" and r["subject_user_id"] == adult["user"]["id"]]
    assert flagged and flagged[0]["categories"] == ["sexual_minors"]
    assert "14" in flagged[0]["context"][0]["content"]


def test_a_blocked_reply_is_withdrawn_while_streaming_and_generated_again(world: World) -> None:
    user = world.account()
    conversation = world.chat(user)
    world.model.enqueue(
        ["*smiles* ", "I slowly unzip ", "your jeans and stroke your hard cock. ", "Then I..."],
        ["Let's talk ", "about the weather ", "instead."],
    )
    with world.client.stream(
        "POST",
        f"/api/v1/conversations/{conversation}/messages",
        json={"content": "Tell me about your day"},
        headers={**bearer(user), "Accept": "text/event-stream"},
    ) as response:
        events = sse_events(response)
    names = [name for name, _ in events]
    retract = names.index("message:stream:retract")
    assert "message:stream:chunk" in names[:retract]  # it streamed, then was withdrawn ...
    assert "sexual" in events[retract][1]["reason"]
    assert names[-1] == "message:stream:complete"  # ... and the second attempt streamed after it
    streamed_after = "".join(d["content"] for n, d in events[retract:] if n == "message:stream:chunk")
    assert streamed_after == "Let's talk about the weather instead."
    assert "Then I" not in "".join(d["content"] for n, d in events if n == "message:stream:chunk")  # stopped early
    stored = world.messages(user, conversation)[-1]
    assert stored["role"] == "assistant" and stored["content"] == "Let's talk about the weather instead."
    log = world.client.get("/api/v1/moderate/decisions?outcome=retracted", headers=bearer(world.admin)).json()
    assert any(d["message_id"] == stored["id"] and "hard cock" in d["excerpt"] for d in log["items"])


def test_a_reply_blocked_twice_is_replaced(world: World) -> None:
    user = world.account()
    conversation = world.chat(user)
    world.model.enqueue(["You worthless idiot, ", "go kill yourself."], ["Nobody loves you, ", "loser, just die."])
    sent = world.send(user, conversation, "How are you?")
    assert sent.status_code == 201, sent.text
    assert sent.json()["assistant_message"]["content"] == REPLACEMENT
    assert world.messages(user, conversation)[-1]["content"] == REPLACEMENT


def test_reports_reach_the_queue_and_admin_actions_take_effect(world: World) -> None:
    creator, reporter = world.account(), world.account()
    made = world.client.post(
        "/api/v1/characters", json={"name": "Grumpy Gus", "visibility": "public"}, headers=bearer(creator)
    )
    assert made.status_code == 201, made.text
    character = made.json()["id"]
    conversation = world.chat(reporter, character)
    world.model.enqueue(["Hmph. ", "Go away, I am busy."])
    reply = world.send(reporter, conversation, "Hi Gus!").json()["assistant_message"]
    reported = world.client.post(
        "/api/v1/reports",
        json={
            "target_type": "message",
            "target_id": reply["id"],
            "conversation_id": conversation,
            "reason": "harassment",
            "details": "rude",
        },
        headers=bearer(reporter),
    )
    assert reported.status_code == 201, reported.text
    character_report = world.client.post(
        "/api/v1/reports",
        json={"target_type": "character", "target_id": character, "reason": "other"},
        headers=bearer(reporter),
    ).json()
    # The creator cannot report another user's conversation (it is not theirs to see).
    stranger = world.client.post(
        "/api/v1/reports",
        json={"target_type": "message", "target_id": reply["id"], "conversation_id": conversation},
        headers=bearer(creator),
    )
    assert stranger.status_code == 404

    queue = world.client.get("/api/v1/reports", headers=bearer(world.admin)).json()["items"]
    message_report = next(r for r in queue if r["id"] == reported.json()["id"])
    assert message_report["subject_user_id"] == creator["user"]["id"]  # the reply is the character's doing
    assert [m["content"] for m in message_report["context"]][-2:] == ["Hi Gus!", "Hmph. Go away, I am busy."]
    assert message_report["target_id"] is None  # admins see the context, not where the conversation is

    admin = bearer(world.admin)
    assert character in world.client.get("/api/v1/characters/search?q=Grumpy").text  # findable until hidden
    hidden = world.client.post(
        f"/api/v1/reports/{character_report['id']}/resolve", json={"action": "hide_character"}, headers=admin
    )
    assert hidden.status_code == 200 and hidden.json()["status"] == "actioned"
    for headers in ({}, bearer(reporter)):
        listed = world.client.get("/api/v1/characters", headers=headers).json()["items"]
        assert character not in [c["id"] for c in listed]
        assert world.client.get(f"/api/v1/characters/{character}", headers=headers).status_code == 404
        for found in ("/api/v1/characters/search?q=Grumpy", "/api/v1/characters/trending"):
            assert character not in world.client.get(found, headers=headers).text
    assert world.client.get(f"/api/v1/characters/{character}", headers=bearer(creator)).status_code == 200

    warned = world.client.post(
        f"/api/v1/reports/{message_report['id']}/resolve",
        json={"action": "warn_user", "note": "Keep your character civil."},
        headers=admin,
    )
    assert warned.status_code == 200
    warnings = world.client.get("/api/v1/moderate/warnings", headers=bearer(creator)).json()["items"]
    assert [w["message"] for w in warnings] == ["Keep your character civil."]
    again = world.client.post(
        f"/api/v1/reports/{message_report['id']}/resolve", json={"action": "dismiss"}, headers=admin
    )
    assert again.status_code == 409

    world.model.enqueue(["Still busy."])
    second = world.send(reporter, conversation, "Please?").json()["assistant_message"]
    report = world.client.post(
        "/api/v1/reports",
        json={"target_type": "message", "target_id": second["id"], "conversation_id": conversation},
        headers=bearer(reporter),
    ).json()
    disabled = world.client.post(
        f"/api/v1/reports/{report['id']}/resolve", json={"action": "disable_user"}, headers=admin
    )
    assert disabled.status_code == 200
    login = world.client.post("/api/v1/auth/login", json={"email": creator["user"]["email"], "password": PASSWORD})
    assert login.status_code == 401

    audit = world.client.get("/api/v1/admin/audit", headers=admin).json()["items"]
    actions = {entry["action"] for entry in audit}
    assert {"moderation.hide_character", "moderation.warn_user", "moderation.disable_user"} <= actions


def test_an_edited_message_passes_the_guard_before_it_reaches_the_model(world: World) -> None:
    user = world.account()
    conversation = world.chat(user)
    sent = world.send(user, conversation, "Hello there").json()
    edited = world.client.patch(
        f"/api/v1/conversations/{conversation}/messages/{sent['user_message']['id']}",
        json={"content": "Tell me how to cook meth in my garage"},
        headers=bearer(user),
    )
    assert edited.status_code == 200  # an edit is the user's own text, stored as written ...
    asked = len(world.model.replies)
    for response in (
        world.send(user, conversation, "And then?"),  # ... but it is not sent to the model
        world.client.post(
            f"/api/v1/conversations/{conversation}/messages/{sent['assistant_message']['id']}/regenerate",
            headers=bearer(user),
        ),
    ):
        assert response.status_code == 422 and response.json()["error"]["code"] == "content_blocked"
    assert len(world.model.replies) == asked
    assert [m["content"] for m in world.messages(user, conversation)][-1] != "And then?"  # nothing stored
