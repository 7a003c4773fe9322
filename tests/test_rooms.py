"""Shared rooms over a real server (HTTP and WebSocket, scripted model): invitations, the people in a room and
what each may do, one reply per person's message in order, presence and typing, removal cutting off sockets."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from bostonia.app import Services
from bostonia.chat.schemas import Conversation
from bostonia.identity import User
from bostonia.prompt.builder import PromptInjection
from tests.fakes import ScriptedModel
from tests.helpers import bearer, error_of, first_character, messages, register
from tests.test_socket import socket

API = "/api/v1/conversations"
JUNIPER, ALDER = "Juniper Ashdown", "Professor Alder Quill"


class WhoAsks:
    """A prompt injector that remembers whose generation each prompt was built for, and the message it answers
    (background warm-ups re-read a finished reply for whoever got it, so they may come in between)."""

    def __init__(self) -> None:
        self.answering: list[tuple[str, str]] = []  # (user id, the content of the message answered)

    async def injections(
        self, user: User, conversation: Conversation, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        self.answering.append((user.id, history[-1].content))
        return []


@pytest.fixture
def owner(live: httpx.Client) -> dict[str, Any]:
    return register(live, "owner@example.com", name="Olive")


@pytest.fixture
def guest(live: httpx.Client, owner: dict[str, Any]) -> dict[str, Any]:
    return register(live, "guest@example.com", name="Gus")


def room(live: httpx.Client, owner: dict[str, Any], *names: str) -> str:
    character_ids = [first_character(live, name)["id"] for name in names or (JUNIPER, ALDER)]
    response = live.post(API, json={"character_ids": character_ids}, headers=bearer(owner))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def invite(live: httpx.Client, owner: dict[str, Any], cid: str, **body: Any) -> dict[str, Any]:
    response = live.post(f"{API}/{cid}/invites", json=body, headers=bearer(owner))
    assert response.status_code == 201, response.text
    return dict(response.json())


def join(live: httpx.Client, guest: dict[str, Any], cid: str, owner: dict[str, Any]) -> None:
    token = invite(live, owner, cid)["token"]
    accepted = live.post(f"/api/v1/invites/{token}/accept", json={}, headers=bearer(guest))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"conversation_id": cid, "url": f"/chats/{cid}"}


def test_an_invite_link_lets_someone_in(live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any]) -> None:
    cid = room(live, owner)
    created = invite(live, owner, cid, expires_in_hours=2)
    assert created["url"] == f"{live.base_url}/invites/{created['token']}" and created["invitee_id"] is None
    assert live.get(f"{API}/{cid}", headers=bearer(guest)).status_code == 404  # not yet
    assert live.post(f"/api/v1/invites/{created['token']}/accept", headers=bearer(guest)).status_code == 200
    people = live.get(f"{API}/{cid}/people", headers=bearer(guest)).json()["items"]
    assert [(p["display_name"], p["role"], p["persona_name"]) for p in people] == [
        ("Olive", "owner", "Olive"),
        ("Gus", "member", "Gus"),
    ]
    assert live.get(f"{API}/{cid}", headers=bearer(guest)).json()["people_count"] == 2
    assert cid in [c["id"] for c in live.get(API, headers=bearer(guest)).json()["items"]]
    # The same link may be used again (by others, or harmlessly twice); the owner sees its uses.
    assert live.post(f"/api/v1/invites/{created['token']}/accept", headers=bearer(guest)).status_code == 200
    listed = live.get(f"{API}/{cid}/invites", headers=bearer(owner)).json()["items"]
    assert [(i["id"], i["uses"], i["revoked"]) for i in listed] == [(created["id"], 1, False)]
    assert "token" not in listed[0]  # shown once, never again


def test_revoked_expired_and_forged_invites_let_nobody_in(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any], services: Services
) -> None:
    cid = room(live, owner)
    revoked, expired = invite(live, owner, cid), invite(live, owner, cid)
    assert live.delete(f"{API}/{cid}/invites/{revoked['id']}", headers=bearer(owner)).status_code == 204
    services.db.write_sync(
        lambda conn: conn.execute(
            "update conversation_invites set expires_at = '2000-01-01T00:00:00.000Z' where id = ?", (expired["id"],)
        )
    )
    for token in (revoked["token"], expired["token"], "forged-token", revoked["id"]):
        refused = live.post(f"/api/v1/invites/{token}/accept", headers=bearer(guest))
        assert refused.status_code == 404 and error_of(refused)["code"] == "invite_not_found", token
    assert live.get(f"{API}/{cid}", headers=bearer(guest)).status_code == 404
    # Only the owner makes, lists and revokes invitations.
    assert live.post(f"{API}/{cid}/invites", json={}, headers=bearer(guest)).status_code == 404
    join(live, guest, cid, owner)
    for method, path in (("POST", "invites"), ("GET", "invites"), ("DELETE", f"invites/{revoked['id']}")):
        assert live.request(method, f"{API}/{cid}/{path}", headers=bearer(guest)).status_code == 404, path


def test_an_invitation_by_email_is_for_that_account_only(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any]
) -> None:
    cid = room(live, owner)
    carol = register(live, "carol@example.com", name="Carol")
    sent = invite(live, owner, cid, email="GUEST@example.com")
    assert sent["invitee_id"] == guest["user"]["id"]
    assert live.post(f"/api/v1/invites/{sent['token']}/accept", headers=bearer(carol)).status_code == 404
    pending = live.get("/api/v1/invites", headers=bearer(guest)).json()["items"]
    assert [(p["id"], p["inviter_name"]) for p in pending] == [(sent["id"], "Olive")]
    assert live.get("/api/v1/invites", headers=bearer(carol)).json()["items"] == []
    assert live.post(f"/api/v1/invites/{sent['id']}/accept", headers=bearer(guest)).status_code == 200  # by its id
    assert live.get("/api/v1/invites", headers=bearer(guest)).json()["items"] == []  # used up
    declined = invite(live, owner, cid, email="carol@example.com")
    assert live.delete(f"/api/v1/invites/{declined['id']}", headers=bearer(guest)).status_code == 404
    assert live.delete(f"/api/v1/invites/{declined['id']}", headers=bearer(carol)).status_code == 204
    assert live.post(f"/api/v1/invites/{declined['token']}/accept", headers=bearer(carol)).status_code == 404
    nobody = live.post(f"{API}/{cid}/invites", json={"email": "nobody@example.com"}, headers=bearer(owner))
    assert nobody.status_code == 404 and error_of(nobody)["code"] == "user_not_found"
    yourself = live.post(f"{API}/{cid}/invites", json={"email": "owner@example.com"}, headers=bearer(owner))
    assert yourself.status_code == 422


def test_members_take_part_the_owner_manages(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any], services: Services
) -> None:
    cid = room(live, owner)
    join(live, guest, cid, owner)
    asks = WhoAsks()
    services.replies.injectors.append(asks)
    mine = live.post(f"{API}/{cid}/messages", json={"content": "Juniper, hi!"}, headers=bearer(guest)).json()
    assert mine["user_message"]["user_id"] == guest["user"]["id"] and mine["user_message"]["speaker_name"] == "Gus"
    # The sender's generation: their rate limits and credits. (A warm-up of the room, built for the owner, may
    # land here too: it answers the greeting, not this message.)
    assert {who for who, what in asks.answering if what == "Juniper, hi!"} == {guest["user"]["id"]}
    theirs = live.post(f"{API}/{cid}/messages", json={"content": "Alder?"}, headers=bearer(owner)).json()
    reply = theirs["assistant_message"]
    before = len(asks.answering)
    assert live.post(f"{API}/{cid}/messages/{reply['id']}/regenerate", headers=bearer(guest)).status_code == 201
    assert (guest["user"]["id"], "Alder?") in asks.answering[before:]  # the new swipe is the guest's generation
    assert (owner["user"]["id"], "Alder?") not in asks.answering[before:]
    own = mine["user_message"]["id"]
    assert (
        live.patch(
            f"{API}/{cid}/messages/{own}", json={"content": "Juniper, hello!"}, headers=bearer(guest)
        ).status_code
        == 200
    )
    others = theirs["user_message"]["id"]
    assert live.patch(f"{API}/{cid}/messages/{others}", json={"content": "x"}, headers=bearer(guest)).status_code == 404
    for method, path, body in (
        ("PATCH", "", {"title": "mine now"}),
        ("DELETE", "", None),
        ("DELETE", f"/messages/{others}", None),
        ("POST", "/branch", {"message_id": others}),
        ("GET", "/prompt", None),
        ("DELETE", f"/people/{owner['user']['id']}", None),
    ):
        refused = live.request(method, f"{API}/{cid}{path}", json=body, headers=bearer(guest))
        assert refused.status_code == 404, (method, path, refused.status_code)
    assert live.get(f"{API}/{cid}", headers=bearer(owner)).json()["title"] != "mine now"
    # Each person speaks as their own persona; the prompt names everyone.
    persona = live.post(
        "/api/v1/personas", json={"name": "Captain Gus", "description": "a sailor"}, headers=bearer(guest)
    )
    changed = live.patch(
        f"{API}/{cid}/people/{guest['user']['id']}", json={"persona_id": persona.json()["id"]}, headers=bearer(guest)
    )
    assert [p["persona_name"] for p in changed.json()["items"]] == ["Olive", "Captain Gus"]
    assert (
        live.patch(
            f"{API}/{cid}/people/{owner['user']['id']}", json={"persona_id": ""}, headers=bearer(guest)
        ).status_code
        == 403
    )
    said = live.post(f"{API}/{cid}/messages", json={"content": "Ahoy"}, headers=bearer(guest)).json()["user_message"]
    assert said["speaker_name"] == "Captain Gus"


def test_removed_or_leaving_people_lose_the_room_at_once(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any]
) -> None:
    cid = room(live, owner)
    join(live, guest, cid, owner)
    with socket(live, guest) as ws, socket(live, owner) as watcher:
        for s in (watcher, ws):
            s.send("conversation:join", {"conversation_id": cid})
            s.until("conversation:joined")
        watcher.until("presence")  # the guest arrived
        assert live.delete(f"{API}/{cid}/people/{owner['user']['id']}", headers=bearer(owner)).status_code == 409
        assert live.delete(f"{API}/{cid}/people/{guest['user']['id']}", headers=bearer(owner)).status_code == 204
        gone = ws.until("room:removed")[-1]["data"]
        assert gone == {"conversation_id": cid, "user_id": guest["user"]["id"]}
        left = watcher.until("presence")[-1]["data"]
        assert left["user_id"] == guest["user"]["id"] and left["status"] == "offline"
        live.post(f"{API}/{cid}/messages", json={"content": "Still there?"}, headers=bearer(owner))
        watcher.until("message:stream:complete")
        ws.send("ping", {})
        assert ws.receive()["event"] == "pong"  # nothing of the room reached the removed socket meanwhile
        for event, data in (
            ("conversation:join", {"conversation_id": cid}),
            ("message:send", {"conversation_id": cid, "content": "let me in"}),
            ("typing:start", {"conversation_id": cid}),
        ):
            ws.send(event, data)
            assert ws.receive()["data"]["code"] == "not_found", event
    for method, path in (("GET", ""), ("GET", "/messages"), ("GET", "/people"), ("POST", "/messages")):
        refused = live.request(method, f"{API}/{cid}{path}", json={"content": "x"}, headers=bearer(guest))
        assert refused.status_code == 404, path
    # A member may leave by themselves.
    join(live, guest, cid, owner)
    assert live.delete(f"{API}/{cid}/people/{guest['user']['id']}", headers=bearer(guest)).status_code == 204
    assert live.get(f"{API}/{cid}", headers=bearer(guest)).status_code == 404


def test_both_sockets_stream_the_same_reply_and_see_presence_and_typing(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any]
) -> None:
    cid = room(live, owner)
    join(live, guest, cid, owner)
    alder = first_character(live, ALDER)["id"]
    with socket(live, owner) as first:
        first.send("conversation:join", {"conversation_id": cid})
        alone = first.until("conversation:joined")[-1]["data"]["present"]
        assert alone == [{"user_id": owner["user"]["id"], "name": "Olive"}]
        with socket(live, guest) as second:
            second.send("conversation:join", {"conversation_id": cid})
            both = second.until("conversation:joined")[-1]["data"]["present"]
            assert [p["name"] for p in both] == ["Olive", "Gus"]
            arrived = first.until("presence")[-1]["data"]
            assert arrived == {
                "conversation_id": cid,
                "user_id": guest["user"]["id"],
                "name": "Gus",
                "status": "online",
            }
            second.send("typing:start", {"conversation_id": cid})
            typing = first.until("typing:start")[-1]["data"]
            assert typing == {"conversation_id": cid, "user_id": guest["user"]["id"], "name": "Gus"}
            second.send("message:send", {"conversation_id": cid, "content": "Professor, a question"})
            seen = [s.until("message:stream:complete") for s in (first, second)]
            assert seen[0][-1]["data"] == seen[1][-1]["data"]
            assert seen[0][-1]["data"]["message"]["character_id"] == alder
            assert "".join(f["data"]["content"] for f in seen[0] if f["event"] == "message:stream:chunk")
            second.send("message:trigger", {"conversation_id": cid, "character_id": alder})
            assert first.until("message:stream:complete")[-1]["data"]["message"]["character_id"] == alder
        left = first.until("presence")[-1]["data"]
        assert left["user_id"] == guest["user"]["id"] and left["status"] == "offline"


def test_each_persons_message_gets_a_reply_in_order(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any], model: ScriptedModel
) -> None:
    cid = room(live, owner, JUNIPER)  # one character, two people: a shared room
    join(live, guest, cid, owner)
    model.enqueue(["First", " answer."], ["Second", " answer."])
    gate = model.hold()
    with socket(live, owner) as ws:
        ws.send("conversation:join", {"conversation_id": cid})
        ws.until("conversation:joined")
        ws.send("message:send", {"conversation_id": cid, "content": "One"})
        ws.until("message:stream:chunk")
        queued = live.post(f"{API}/{cid}/messages", json={"content": "Two"}, headers=bearer(guest))
        assert queued.status_code == 202 and queued.json()["queued"] == 1 and queued.json()["assistant_message"] is None
        gate.set()
        model.gate = None
        ws.until("message:stream:complete")
        second = ws.until("message:stream:complete")[-1]["data"]["message"]
    path = messages(live, owner, cid)
    assert [m["content"] for m in path[1:]] == ["One", "Two", "First answer.", "Second answer."]
    assert all(m["parent_id"] == path[i]["id"] for i, m in enumerate(path[1:]))  # one line, no fork
    assert second["content"] == "Second answer."
    assert [m.content for m in model.prompts[-1][-4:]] == [
        "Olive: One",
        "Gus: Two",
        "Juniper Ashdown: First answer.",
        "Juniper Ashdown:",
    ]


def test_presence_times_out_without_a_sign_of_life(
    live: httpx.Client, owner: dict[str, Any], guest: dict[str, Any], services: Services
) -> None:
    cid = room(live, owner)
    join(live, guest, cid, owner)
    services.rooms.presence.timeout = 0.6
    with socket(live, owner) as first, socket(live, guest) as second:
        first.send("conversation:join", {"conversation_id": cid})
        first.until("conversation:joined")
        second.send("conversation:join", {"conversation_id": cid})
        second.until("conversation:joined")
        first.until("presence")
        heard: list[dict[str, Any]] = []
        started = time.monotonic()
        while time.monotonic() - started < 1.5:  # the owner keeps pinging, the guest says nothing
            first.send("ping", {})
            heard += first.until("pong")
            time.sleep(0.1)
        offline = [f["data"] for f in heard if f["event"] == "presence"]
        assert offline == [{"conversation_id": cid, "user_id": guest["user"]["id"], "name": "Gus", "status": "offline"}]
        people = live.get(f"{API}/{cid}/people", headers=bearer(owner)).json()["items"]
        assert [(p["display_name"], p["online"]) for p in people] == [("Olive", True), ("Gus", False)]
