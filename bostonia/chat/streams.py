"""A reply being generated, fanned out to every listener (SSE requests, sockets, tabs).

The reply belongs to the server, not to a connection: a listener that disconnects stops
listening, the generation goes on and the message is stored. A listener that joins late first
receives the text so far, then the live pieces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from bostonia.chat.schemas import ChatEvent, Message
from bostonia.errors import BostoniaError
from bostonia.llm.worker import GenerationJob

START = "message:stream:start"
CHUNK = "message:stream:chunk"
COMPLETE = "message:stream:complete"
ERROR = "error"


class ReplyStream:
    def __init__(self, *, conversation_id: str, message_id: str, user_message: Message) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.user_message = user_message
        self.text = ""
        self.message: Message | None = None
        self.error: BostoniaError | None = None
        self.cancelled = False
        self.task: asyncio.Task[Any] | None = None
        self.job: GenerationJob | None = None  # the current generation attempt, to cancel it
        self._finished = asyncio.Event()
        self._listeners: set[asyncio.Queue[ChatEvent]] = set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def _start_event(self) -> ChatEvent:
        return ChatEvent(
            START, {"id": self.message_id, "conversation_id": self.conversation_id, "parent_id": self.user_message.id}
        )

    def _publish(self, event: ChatEvent) -> None:
        for queue in self._listeners:
            queue.put_nowait(event)

    # -- producer ----------------------------------------------------------------------------------

    def append(self, piece: str) -> None:
        self.text += piece
        self._publish(ChatEvent(CHUNK, {"id": self.message_id, "content": piece}))

    def complete(self, message: Message) -> None:
        self.message = message
        self._publish(ChatEvent(COMPLETE, {"message": message}))
        self._finished.set()

    def fail(self, error: BostoniaError) -> None:
        self.error = error
        self._publish(ChatEvent(ERROR, {"code": error.code, "message": error.message, "id": self.message_id}))
        self._finished.set()

    # -- consumers ---------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ChatEvent]:
        """Every event of this reply from the start (catching up), until it completes or fails."""
        queue: asyncio.Queue[ChatEvent] = asyncio.Queue()
        yield self._start_event()
        if self.text:
            yield ChatEvent(CHUNK, {"id": self.message_id, "content": self.text})
        if self.finished:
            yield self._final_event()
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

    def _final_event(self) -> ChatEvent:
        if self.message is not None:
            return ChatEvent(COMPLETE, {"message": self.message})
        assert self.error is not None
        return ChatEvent(ERROR, {"code": self.error.code, "message": self.error.message, "id": self.message_id})

    async def result(self) -> Message:
        await self._finished.wait()
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message
