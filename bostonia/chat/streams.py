"""A reply being generated, fanned out to every listener.

The reply belongs to the server, not to a connection: a listener that disconnects stops listening,
the generation goes on and the message is stored. A listener that joins late first receives the text
so far, then the live pieces. Every event also goes to the conversation's hub (sockets, open pages).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from bostonia.chat.schemas import ChatEvent, Message
from bostonia.errors import BostoniaError
from bostonia.llm.worker import GenerationJob

START = "message:stream:start"
CHUNK = "message:stream:chunk"
COMPLETE = "message:stream:complete"
QUEUED = "message:queued"
RETRACT = "message:stream:retract"  # the text streamed so far is withdrawn (moderation); more may follow
ERROR = "error"

ReplyMode = Literal["reply", "regenerate", "continue"]


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
    ) -> None:
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
        self.job: GenerationJob | None = None  # the current generation attempt, to cancel it
        self._on_event = on_event
        self._finished = asyncio.Event()
        self._listeners: set[asyncio.Queue[ChatEvent]] = set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def start_event(self) -> ChatEvent:
        return ChatEvent(
            START,
            {
                "id": self.message_id,
                "conversation_id": self.conversation_id,
                "parent_id": self.parent_id,
                "mode": self.mode,
                "prefix": self.prefix,
            },
        )

    def _publish(self, event: ChatEvent) -> None:
        for queue in self._listeners:
            queue.put_nowait(event)
        self._on_event(event)

    # -- producer ----------------------------------------------------------------------------------

    def started(self) -> None:
        self._on_event(self.start_event())

    def queued(self, position: int) -> None:
        self._publish(ChatEvent(QUEUED, {"id": self.message_id, "position": position}))

    def append(self, piece: str) -> None:
        self.text += piece
        self._publish(ChatEvent(CHUNK, {"id": self.message_id, "content": piece}))

    def retract(self, reason: str) -> None:
        """Withdraw everything streamed so far: listeners drop it, late joiners never see it."""
        self.text = ""
        self._publish(ChatEvent(RETRACT, {"id": self.message_id, "reason": reason}))

    def complete(self, message: Message) -> None:
        self.message = message
        self._publish(ChatEvent(COMPLETE, {"message": message}))
        self._finished.set()

    def fail(self, error: BostoniaError) -> None:
        self.error = error
        self._publish(self._error_event())
        self._finished.set()

    def _error_event(self) -> ChatEvent:
        assert self.error is not None
        return ChatEvent(
            ERROR,
            {
                "code": self.error.code,
                "message": self.error.message,
                "id": self.message_id,
                "conversation_id": self.conversation_id,
            },
        )

    # -- consumers ---------------------------------------------------------------------------------

    def catch_up(self) -> list[ChatEvent]:
        """What a listener joining now has missed: the start and the text so far (or the end)."""
        events = [self.start_event()]
        if self.text:
            events.append(ChatEvent(CHUNK, {"id": self.message_id, "content": self.text}))
        if self.message is not None:
            events.append(ChatEvent(COMPLETE, {"message": self.message}))
        elif self.error is not None:
            events.append(self._error_event())
        return events

    async def events(self) -> AsyncIterator[ChatEvent]:
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
                if event.event in (COMPLETE, ERROR):
                    return
        finally:
            self._listeners.discard(queue)

    async def result(self) -> Message:
        await self._finished.wait()
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message
