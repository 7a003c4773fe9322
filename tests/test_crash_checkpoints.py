"""Replies in flight are checkpointed (at a bounded rate, outside the message tree) and a checkpoint a dead
process left becomes a message marked interrupted at the next start, which can be continued or regenerated.
The real `kill -9` of a real server is tests/test_crash_kill.py; these drive the logic in process."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import httpx
import pytest
from litestar import Litestar

from bostonia.app import Services, build_services, create_app
from bostonia.chat.checkpoint_store import Checkpoint, CheckpointStore
from bostonia.chat.streams import ReplyCheckpoints, ReplyStream
from bostonia.db import Database
from bostonia.db.lock import DataDirLock, LockHeld
from bostonia.db.values import utcnow
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import (
    PASSWORD,
    SSE,
    bearer,
    make_settings,
    messages,
    new_conversation,
    register,
    serve_in_thread,
    sign_in,
)

API = "/api/v1/conversations"


def fresh(model: ScriptedModel) -> tuple[Litestar, Services]:
    settings = make_settings()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(model))
    services = build_services(settings, plugins)
    return create_app(settings, services=services), services


def checkpoint_rows(services: Services) -> list[dict[str, Any]]:
    return services.db.read_sync(
        lambda conn: [dict(row) for row in conn.execute("select * from reply_checkpoints").fetchall()]
    )


def send_in_background(url: str, account: dict[str, Any], cid: str, text: str) -> threading.Thread:
    def run() -> None:
        with (
            httpx.Client(base_url=url, timeout=30) as client,
            client.stream(
                "POST", f"{API}/{cid}/messages", json={"content": text}, headers={**bearer(account), **SSE}
            ) as response,
        ):
            for _ in response.iter_lines():
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_streaming_reply_is_checkpointed_at_a_bounded_rate_and_its_checkpoint_goes_when_it_is_stored() -> None:
    model = ScriptedModel(delay=0.02)
    pieces = [f" word{n}" for n in range(60)]  # ≈ 1.2 s of streaming
    model.enqueue(pieces)
    app, services = fresh(model)
    services.replies.in_flight.interval = 0.2
    saves: list[float] = []
    store = services.replies.in_flight.checkpoints
    assert store is not None
    original_save = store.save

    async def counting_save(checkpoint: Checkpoint) -> None:
        saves.append(time.monotonic())
        await original_save(checkpoint)

    store.save = counting_save  # type: ignore[method-assign]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        started = time.monotonic()
        sender = send_in_background(url, alice, conversation["id"], "Tell me everything")
        seen: list[dict[str, Any]] = []
        while not seen and time.monotonic() - started < 10:
            seen = [row for row in checkpoint_rows(services) if row["content"]]
            time.sleep(0.02)
        assert seen, "no checkpoint was written while the reply streamed"
        checkpoint = seen[0]
        assert checkpoint["mode"] == "reply" and checkpoint["conversation_id"] == conversation["id"]
        assert "".join(pieces).lstrip().startswith(checkpoint["content"])
        # Meanwhile the half-written reply is not part of the conversation (nor counted as a swipe).
        shown = messages(client, alice, conversation["id"])
        assert [m["role"] for m in shown] == ["assistant", "user"]
        assert checkpoint["message_id"] not in {m["id"] for m in shown}
        sender.join(20)
        elapsed = time.monotonic() - started
        stored = messages(client, alice, conversation["id"])
        assert stored[-1]["id"] == checkpoint["message_id"] and stored[-1]["status"] == "complete"
        assert checkpoint_rows(services) == []  # the stored reply took its checkpoint's place
    # At most one write per interval (plus the one in hand at the end), and far fewer than the pieces.
    assert 1 <= len(saves) <= elapsed / 0.2 + 1
    gaps = [b - a for a, b in itertools.pairwise(saves)]
    assert all(gap >= 0.19 for gap in gaps), gaps


def test_a_short_reply_leaves_no_checkpoint_once_stored() -> None:
    """Its first text was written at once (a crash just after a reply began keeps what it had); storing the
    reply removes it."""
    model = ScriptedModel()
    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        response = client.post(f"{API}/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice))
        assert response.status_code == 201
        # The answer goes out as the reply is stored; its checkpoint is removed just after.
        deadline = time.monotonic() + 10
        while checkpoint_rows(services) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpoint_rows(services) == []


def test_withdrawn_text_is_written_over_at_once() -> None:
    """Moderation's retract empties the checkpoint without waiting for the interval: a crash right after it
    must not bring the withdrawn text back."""

    class MemoryStore:
        def __init__(self) -> None:
            self.saved: list[str] = []

        async def save(self, checkpoint: Checkpoint) -> None:
            self.saved.append(checkpoint.content)

        async def discard(self, message_id: str) -> None:
            self.saved.append("<discarded>")

    async def scenario() -> list[str]:
        store = MemoryStore()
        reply = ReplyStream(conversation_id="c", message_id="m", parent_id="p", mode="reply")
        reply.checkpoints = ReplyCheckpoints(store, reply, interval=60)  # type: ignore[arg-type]
        reply.append("something the guard blocks")
        await asyncio.sleep(0)
        reply.retract("blocked")
        await asyncio.sleep(0.01)
        await reply.checkpoints.close()
        return store.saved

    # The first text at once, then the retract at once, though the interval is a minute.
    assert asyncio.run(scenario()) == ["something the guard blocks", "", "<discarded>"]


def leave_checkpoint(services: Services, **fields: Any) -> None:
    """What a process killed mid-stream leaves behind: a checkpoint row, not a message (written to the
    stopped app's database file, as the dead process would have)."""
    db = Database(services.db.path)
    try:
        asyncio.run(CheckpointStore(db).save(Checkpoint(started_at=utcnow(), **fields)))
    finally:
        db.close()


def test_a_checkpoint_left_by_a_dead_process_becomes_an_interrupted_reply_that_can_be_continued() -> None:
    model = ScriptedModel()
    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        sent = client.post(f"{API}/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice))
        user_message = sent.json()["user_message"]
        # What a process killed mid-stream leaves behind: a checkpoint, not a message.
        model.enqueue([" and", " more."])
        regenerated = client.post(
            f"{API}/{conversation['id']}/messages/{user_message['id']}/regenerate", headers=bearer(alice)
        )
        assert regenerated.status_code == 201, regenerated.text
        before = messages(client, alice, conversation["id"])
    kept_id = "00000000-0000-4000-8000-00000000c0de"
    leave_checkpoint(
        services,
        conversation_id=conversation["id"],
        message_id=kept_id,
        parent_id=user_message["id"],
        mode="regenerate",
        prefix="",
        content="  Once upon a time the sea",
        character_id=before[-1]["character_id"],
        speaker_name="Captain",
        model_used="scripted",
    )

    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        alice = login.json()
        after = messages(client, alice, conversation["id"])
        kept = after[-1]
        assert kept["id"] == kept_id and kept["role"] == "assistant"
        assert kept["content"] == "Once upon a time the sea"
        assert kept["status"] == "partial" and kept["metadata"]["interrupted"] is True
        assert kept["is_regeneration"] and kept["sibling_count"] == 3  # a swipe beside the two stored replies
        assert [m["id"] for m in after[:-1]] == [m["id"] for m in before[:-1]]  # the rest is untouched
        assert checkpoint_rows(services) == []
        with httpx.Client(base_url=url, timeout=30) as browser:  # the chat page says so
            sign_in(browser)  # type: ignore[arg-type]
            page = browser.get(f"/chats/{conversation['id']}")
            assert page.status_code == 200 and 'class="interrupted"' in page.text
        model.enqueue([" rolled", " on."])
        continued = client.post(f"{API}/{conversation['id']}/messages/{kept_id}/continue", headers=bearer(alice))
        assert continued.status_code == 200, continued.text
        final = messages(client, alice, conversation["id"])[-1]
        assert final["id"] == kept_id and final["content"] == "Once upon a time the sea rolled on."
        assert final["status"] == "complete"


def test_a_restart_reads_the_chats_people_were_just_in_again_before_they_send() -> None:
    model = ScriptedModel()
    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice, bob = register(client, "alice@example.com"), register(client, "bob@example.com")
        chats = {name: new_conversation(client, account)["id"] for name, account in [("alice", alice), ("bob", bob)]}
        chats["alice, last week"] = new_conversation(client, alice)["id"]
        chats["bob, archived"] = new_conversation(client, bob)["id"]
        for name, cid in chats.items():
            account = alice if name.startswith("alice") else bob
            sent = client.post(f"{API}/{cid}/messages", json={"content": f"hi from {name}"}, headers=bearer(account))
            assert sent.status_code == 201, sent.text
        archived = client.patch(f"{API}/{chats['bob, archived']}", json={"is_archived": True}, headers=bearer(bob))
        assert archived.status_code == 200, archived.text
        services.db.write_sync(
            lambda conn: conn.execute(
                "update conversations set last_message_at = '2026-01-01T00:00:00.000Z' where id = ?",
                (chats["alice, last week"],),
            )
        )

    restarted = ScriptedModel()
    app, services = fresh(restarted)
    with serve_in_thread(app):
        deadline = time.monotonic() + 10
        while len([r for r in restarted.requests if r.prefill_only]) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # nothing else comes
    warmed = {r.session: r.messages[-2].content for r in restarted.requests if r.prefill_only}
    assert warmed == {chats["alice"]: "hi from alice", chats["bob"]: "hi from bob"}  # each chat as it was left
    assert restarted.replies == []  # read, nothing generated


def test_an_interrupted_continuation_keeps_the_text_before_it_and_stale_or_empty_checkpoints_are_dropped() -> None:
    model = ScriptedModel()
    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        reply = client.post(
            f"{API}/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
        ).json()["assistant_message"]
        greeting_id = messages(client, alice, conversation["id"])[0]["id"]
    common = {"conversation_id": conversation["id"], "parent_id": reply["parent_id"], "character_id": None}
    leave_checkpoint(
        services, **common, message_id=reply["id"], mode="continue", prefix=reply["content"], content=" And then"
    )
    # A reply whose finished write landed before the crash (its checkpoint not yet removed) is not doubled,
    # and one that had produced nothing yet leaves no empty message.
    leave_checkpoint(services, **common, message_id=greeting_id, mode="reply", prefix="", content="stale")
    leave_checkpoint(services, **common, message_id=reply["id"] + "-empty", mode="reply", prefix="", content="   ")
    app, services = fresh(model)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).json()
        after = messages(client, alice, conversation["id"])
        assert len(after) == 3
        assert after[-1]["content"] == reply["content"] + " And then"
        assert after[-1]["status"] == "partial" and after[-1]["metadata"]["interrupted"] is True
        assert checkpoint_rows(services) == []


def test_one_server_per_data_directory(tmp_path: Any) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        assert DataDirLock(tmp_path).holder() is not None
        with pytest.raises(LockHeld):
            DataDirLock(tmp_path).acquire()
    finally:
        first.release()
    assert DataDirLock(tmp_path).holder() is None
