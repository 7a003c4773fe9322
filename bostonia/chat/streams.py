"""A reply being generated, fanned out to every listener.

The reply belongs to the server, not to a connection: a listener that disconnects stops listening,
the generation goes on and the message is stored. A listener that joins late first receives the text
so far, then the live pieces. Every event also goes to the conversation's hub (sockets, open pages).

While it streams, its text is checkpointed to the database (its first text at once, then at most once
every `CHECKPOINT_SECONDS`), so a crash of the process loses at most that much of it: at the next start the
checkpoint becomes a message marked interrupted (`CheckpointStore.recover`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import msgspec

from bostonia.chat import events
from bostonia.chat.checkpoint_store import Checkpoint, CheckpointStore, Recovered
from bostonia.chat.events import ChatEvent, ErrorNotice, ReplyMode, StreamFallback, StreamStart
from bostonia.chat.schemas import Message, Speaker
from bostonia.db.values import utcnow
from bostonia.errors import BostoniaError
from bostonia.orchestration.service import Fallback

log = logging.getLogger(__name__)
# A crash loses at most this much of a reply; ~66 tokens of the bundled model, one small write a second.
CHECKPOINT_SECONDS = 1.0


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class ReplyStream:
    def __init__(
        self,
        *,
        conversation_id: str,
        message_id: str,
        parent_id: str | None,
        mode: ReplyMode,
        user_message: Message | None = None,
        prefix: str = "",
        on_event: Callable[[ChatEvent], None] = lambda event: None,
        speaker: Speaker | None = None,
    ) -> None:
        self.speaker = speaker or Speaker()  # the character writing it
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.parent_id = parent_id
        self.mode = mode
        self.user_message = user_message
        self.prefix = prefix  # the text a continued message already had
        self.text = ""  # what this generation produced so far
        self.message: Message | None = None
        self.error: BostoniaError | None = None
        self.cancelled = False
        self.task: asyncio.Task[Any] | None = None
        self.job: Cancellable | None = None  # the current generation attempt, to cancel it
        self.started_at = utcnow()
        self.checkpoints: ReplyCheckpoints | None = None  # set while in flight (RepliesInFlight.add)
        self._on_event = on_event
        self._finished = asyncio.Event()
        self._listeners: set[asyncio.Queue[ChatEvent]] = set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def start_event(self) -> ChatEvent:
        return events.stream_start(
            StreamStart(
                id=self.message_id,
                conversation_id=self.conversation_id,
                parent_id=self.parent_id,
                mode=self.mode,
                prefix=self.prefix,
                character_id=self.speaker.character_id,
                speaker_name=self.speaker.name,
            )
        )

    def _publish(self, event: ChatEvent) -> None:
        for queue in self._listeners:
            queue.put_nowait(event)
        self._on_event(event)

    # -- producer ----------------------------------------------------------------------------------

    def started(self) -> None:
        self._on_event(self.start_event())

    def queued(self, position: int) -> None:
        self._publish(events.queued(self.message_id, position))

    def append(self, piece: str) -> None:
        self.text += piece
        self._publish(events.chunk(self.message_id, piece, self.speaker.character_id))
        if self.checkpoints is not None:
            self.checkpoints.changed()

    def retract(self, reason: str) -> None:
        """Withdraw everything streamed so far (moderation): listeners drop it, late joiners never see it."""
        self.text = ""
        self._publish(events.retract(self.message_id, reason, self.speaker.character_id))
        if self.checkpoints is not None:
            self.checkpoints.changed(at_once=True)  # withdrawn text must not survive a crash either

    def checkpoint(self) -> Checkpoint:
        """What a crash now should leave behind."""
        model = getattr(self.job, "model", None)
        return Checkpoint(
            message_id=self.message_id,
            conversation_id=self.conversation_id,
            parent_id=self.parent_id,
            mode=self.mode,
            prefix=self.prefix,
            content=self.text,
            character_id=self.speaker.character_id,
            speaker_name=self.speaker.name,
            model_used=getattr(model, "model_id", None),
            started_at=self.started_at,
        )

    def fell_back(self, fallback: Fallback) -> dict[str, Any]:
        """A model failed and the next one of the route took over: tell the listeners (who keep the text so
        far, unless the next model starts over) and return the record the stored message keeps."""
        record = {**msgspec.to_builtins(fallback), "notice": fallback.notice, "at_chars": len(self.text)}
        if fallback.restarted:
            self.text = ""
        notice = StreamFallback(
            id=self.message_id,
            from_model=fallback.from_model,
            to_model=fallback.to_model,
            reason=fallback.reason,
            notice=fallback.notice,
            kept_chars=len(self.text),
            restarted=fallback.restarted,
        )
        self._publish(events.fallback(notice))
        return record

    def complete(self, message: Message) -> None:
        self.message = message
        self._publish(events.complete(message))
        self._finished.set()

    def fail(self, error: BostoniaError) -> None:
        self.error = error
        self._publish(self._error_event())
        self._finished.set()

    def _error_event(self) -> ChatEvent:
        assert self.error is not None
        return events.error(
            ErrorNotice(
                code=self.error.code,
                message=self.error.message,
                id=self.message_id,
                conversation_id=self.conversation_id,
            )
        )

    # -- consumers ---------------------------------------------------------------------------------

    def catch_up(self) -> list[ChatEvent]:
        """What a listener joining now has missed: the start and the text so far (or the end)."""
        caught_up = [self.start_event()]
        if self.text:
            caught_up.append(events.chunk(self.message_id, self.text, self.speaker.character_id))
        if self.message is not None:
            caught_up.append(events.complete(self.message))
        elif self.error is not None:
            caught_up.append(self._error_event())
        return caught_up

    async def stream(self) -> AsyncIterator[ChatEvent]:
        """Every event of this reply from the start (catching up), until it completes or fails."""
        queue: asyncio.Queue[ChatEvent] = asyncio.Queue()
        for event in self.catch_up():
            yield event
        if self.finished:
            return
        self._listeners.add(queue)
        try:
            while True:
                event = await queue.get()
                yield event
                if event.event in (events.STREAM_COMPLETE, events.ERROR):
                    return
        finally:
            self._listeners.discard(queue)

    async def result(self) -> Message:
        await self._finished.wait()
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message


class ReplyCheckpoints:
    """One reply's checkpoints: written at most every `interval` seconds while its text changes, one write
    at a time, on the database's writer thread (never blocking the stream). A failed write is logged and
    the reply goes on."""

    def __init__(self, store: CheckpointStore, reply: ReplyStream, interval: float = CHECKPOINT_SECONDS) -> None:
        self.store = store
        self.reply = reply
        self.interval = interval
        self.writes = 0
        # The first text is written at once (a crash right after the reply began still keeps it), then at most
        # once every `interval`: one small write per second of streaming.
        self._last = -float("inf")
        self._writing: asyncio.Task[None] | None = None
        self._again = False  # the text changed in a way that must be written as soon as the write in hand ends
        self._closed = False

    def changed(self, *, at_once: bool = False) -> None:
        if self._closed:
            return
        if self._writing is not None:
            self._again = self._again or at_once
            return
        if at_once or time.monotonic() - self._last >= self.interval:
            self._writing = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            while True:
                self._again = False
                self._last = time.monotonic()
                await self.store.save(self.reply.checkpoint())
                self.writes += 1
                if not self._again or self._closed:
                    return
        except Exception:
            log.exception("checkpoint of reply %s failed", self.reply.message_id)
        finally:
            self._writing = None

    async def close(self) -> None:
        """The reply is over (stored, or failed): no more checkpoints, and its row goes."""
        self._closed = True
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        if self.writes:
            try:
                await self.store.discard(self.reply.message_id)
            except Exception:  # a stale checkpoint of a stored reply is ignored at the next start anyway
                log.exception("removing the checkpoint of reply %s failed", self.reply.message_id)


class RepliesInFlight:
    """Which conversations have a reply being generated, and that reply (checkpointed to `checkpoints`, when
    given, so that a crash does not lose it). The reply service adds and removes; the chat service reads it
    to refuse edits meanwhile. Built once by the composition root and handed to both, so neither wires up
    the other."""

    def __init__(self, checkpoints: CheckpointStore | None = None, interval: float = CHECKPOINT_SECONDS) -> None:
        self._by_conversation: dict[str, ReplyStream] = {}
        self.checkpoints = checkpoints
        self.interval = interval

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._by_conversation

    def get(self, conversation_id: str) -> ReplyStream | None:
        return self._by_conversation.get(conversation_id)

    def add(self, reply: ReplyStream) -> None:
        self._by_conversation[reply.conversation_id] = reply
        if self.checkpoints is not None:
            reply.checkpoints = ReplyCheckpoints(self.checkpoints, reply, self.interval)

    async def finished(self, reply: ReplyStream) -> None:
        """The reply was stored or failed: it is no longer in flight and its checkpoint goes."""
        if self._by_conversation.get(reply.conversation_id) is reply:
            del self._by_conversation[reply.conversation_id]
        if reply.checkpoints is not None:
            await reply.checkpoints.close()

    def all(self) -> list[ReplyStream]:
        return list(self._by_conversation.values())

    async def recover_interrupted(self) -> list[Recovered]:
        """At start-up, before any reply starts: the checkpoints a dead process left become messages marked
        interrupted (they can be continued or regenerated like a stopped reply)."""
        return await self.checkpoints.recover() if self.checkpoints is not None else []
