"""The WebSocket protocol at /ws, over a real server: events, several tabs, typing, bad frames, ownership."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.fakes import ScriptedModel
from tests.helpers import bearer, messages, new_conversation, register


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def send(self, event: str, data: dict[str, Any] | None = None) -> None:
        self.connection.send(json.dumps({"event": event, "data": data or {}}))

    def receive(self, timeout: float = 20) -> dict[str, Any]:
        return json.loads(self.connection.recv(timeout=timeout))

    def until(self, event: str, timeout: float = 30) -> list[dict[str, Any]]:
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.receive(deadline - time.monotonic())
            got.append(frame)
            if frame["event"] == event:
                return got
        raise AssertionError(f"no {event}; got {[f['event'] for f in got]}")


@contextmanager
def socket(live: httpx.Client, account: dict[str, Any] | None) -> Iterator[Socket]:
    url = str(live.base_url).replace("http://", "ws://") + "/ws"
    if account is not None:
        url += f"?token={account['access_token']}"
    with connect(url, open_timeout=10) as connection:
        yield Socket(connection)


@pytest.fixture
def alice_live(live: httpx.Client) -> dict[str, Any]:
    return register(live, "alice@example.com", name="Alice")


def test_a_socket_needs_a_valid_token(live: httpx.Client) -> None:
    with pytest.raises(InvalidStatus), socket(live, None):
        pass
    with pytest.raises(InvalidStatus), socket(live, {"access_token": "forged"}):
        pass


def test_send_streams_the_seed_events(live: httpx.Client, alice_live: dict[str, Any], model: ScriptedModel) -> None:
    cid = new_conversation(live, alice_live)["id"]
    model.enqueue(["Hello", " there", "!"])
    with socket(live, alice_live) as ws:
        ws.send("conversation:join", {"conversation_id": cid})
        joined = ws.until("conversation:joined")[-1]["data"]
        me = {"user_id": alice_live["user"]["id"], "name": "Alice"}
        assert joined == {"conversation_id": cid, "active_reply": None, "present": [me]}
        ws.send("message:send", {"conversation_id": cid, "content": "Hi!"})
        frames = ws.until("message:stream:complete")
    names = [f["event"] for f in frames]
    chunks = names.count("message:stream:chunk")  # pieces arriving together are one chunk
    assert chunks >= 1
    assert names == ["message:received", "message:stream:start"] + ["message:stream:chunk"] * chunks + [
        "message:stream:complete"
    ]
    received, start, complete = frames[0]["data"]["message"], frames[1]["data"], frames[-1]["data"]["message"]
    assert received["content"] == "Hi!" and received["role"] == "user"
    assert start["id"] == complete["id"] and start["parent_id"] == received["id"]
    assert "".join(f["data"]["content"] for f in frames[2 : 2 + chunks]) == complete["content"] == "Hello there!"
    assert messages(live, alice_live, cid)[-1] == complete


def test_two_tabs_see_the_same_stream_and_typing(live: httpx.Client, alice_live: dict[str, Any]) -> None:
    cid = new_conversation(live, alice_live)["id"]
    with socket(live, alice_live) as first, socket(live, alice_live) as second:
        for ws in (first, second):
            ws.send("conversation:join", {"conversation_id": cid})
            ws.until("conversation:joined")
        first.send("typing:start", {"conversation_id": cid})
        typing = second.until("typing:start")[-1]["data"]
        assert typing == {"conversation_id": cid, "user_id": alice_live["user"]["id"], "name": "Alice"}
        first.send("message:send", {"conversation_id": cid, "content": "Both of you, listen."})
        mine = first.until("message:stream:complete")
        theirs = second.until("message:stream:complete")
        assert "typing:start" not in [f["event"] for f in mine]  # a tab is not told about its own typing
    assert [f["event"] for f in theirs] == [f["event"] for f in mine]
    assert theirs[-1]["data"] == mine[-1]["data"]


def test_http_replies_reach_joined_sockets(live: httpx.Client, alice_live: dict[str, Any]) -> None:
    cid = new_conversation(live, alice_live)["id"]
    with socket(live, alice_live) as ws:
        ws.send("conversation:join", {"conversation_id": cid})
        ws.until("conversation:joined")
        live.post(f"/api/v1/conversations/{cid}/messages", json={"content": "from the API"}, headers=bearer(alice_live))
        frames = ws.until("message:stream:complete")
    assert frames[0]["event"] == "message:received" and frames[0]["data"]["message"]["content"] == "from the API"


def test_regenerate_and_cancel_over_the_socket(
    live: httpx.Client, alice_live: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(live, alice_live)["id"]
    with socket(live, alice_live) as ws:
        ws.send("message:send", {"conversation_id": cid, "content": "Hi"})
        reply = ws.until("message:stream:complete")[-1]["data"]["message"]
        ws.send("message:regenerate", {"conversation_id": cid, "message_id": reply["id"]})
        frames = ws.until("message:stream:complete")
        assert frames[0]["event"] == "message:stream:start" and frames[0]["data"]["mode"] == "regenerate"
        assert frames[-1]["data"]["message"]["sibling_count"] == 2
        model.hold()
        ws.send("message:regenerate", {"conversation_id": cid, "message_id": reply["id"]})
        ws.until("message:stream:chunk")
        ws.send("message:cancel", {"conversation_id": cid})
        stopped = ws.until("message:stream:complete")[-1]["data"]["message"]
    assert stopped["status"] == "partial" and stopped["content"] == "Hello"


def test_bad_frames_get_errors_and_the_socket_stays_open(
    live: httpx.Client, alice_live: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(live, alice_live)["id"]
    with socket(live, alice_live) as ws:
        cases = [
            ("not json at all", "invalid_frame"),
            (json.dumps({"data": {}}), "invalid_frame"),
            (json.dumps({"event": "message:send", "data": "nope"}), "invalid_frame"),
            (json.dumps({"event": "teleport", "data": {}}), "unknown_event"),
            (json.dumps({"event": "message:send", "data": {"conversation_id": cid}}), "invalid_frame"),
            (json.dumps({"event": "message:send", "data": {"conversation_id": cid, "content": "  "}}), "invalid_input"),
            (
                json.dumps({"event": "message:send", "data": {"conversation_id": cid, "content": "x" * 70_000}}),
                "frame_too_large",
            ),
            (json.dumps({"event": "conversation:join", "data": {"conversation_id": "missing"}}), "not_found"),
            (
                json.dumps({"event": "message:regenerate", "data": {"conversation_id": cid, "message_id": "nope"}}),
                "not_found",
            ),
        ]
        for raw, code in cases:
            ws.connection.send(raw)
            frame = ws.receive()
            assert frame["event"] == "error" and frame["data"]["code"] == code, (raw[:60], frame)
        ws.send("ping", {"n": 1})
        assert ws.receive() == {"event": "pong", "data": {"n": 1}}
    assert len(messages(live, alice_live, cid)) == 1  # nothing was stored


def test_someone_elses_conversation_is_out_of_reach(live: httpx.Client, alice_live: dict[str, Any]) -> None:
    cid = new_conversation(live, alice_live)["id"]
    bob = register(live, "bob@example.com")
    with socket(live, bob) as ws:
        for event, data in (
            ("conversation:join", {"conversation_id": cid}),
            ("message:send", {"conversation_id": cid, "content": "hijack"}),
            ("typing:start", {"conversation_id": cid}),
            ("message:cancel", {"conversation_id": cid}),
        ):
            ws.send(event, data)
            frame = ws.receive()
            assert frame["event"] == "error" and frame["data"]["code"] == "not_found", event
    assert len(messages(live, alice_live, cid)) == 1


def test_a_dropped_socket_loses_nothing_and_late_joiners_catch_up(
    live: httpx.Client, alice_live: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(live, alice_live)["id"]
    gate = model.hold()
    with socket(live, alice_live) as ws:
        ws.send("message:send", {"conversation_id": cid, "content": "Hi"})
        ws.until("message:stream:chunk")
    # The first socket is gone mid-reply. Another one joins and is told where the reply stands.
    with socket(live, alice_live) as late:
        late.send("conversation:join", {"conversation_id": cid})
        joined = late.until("conversation:joined")[-1]["data"]
        assert joined["active_reply"]["content"] == "Hello"
        gate.set()
        frames = late.until("message:stream:complete")
    assert frames[0]["event"] == "message:stream:start" and frames[1]["data"]["content"] == "Hello"
    assert frames[-1]["data"]["message"]["content"] == "Hello from the scripted model."
    assert messages(live, alice_live, cid)[-1]["content"] == "Hello from the scripted model."
