"""Generation jobs and the queue interface the chat layer sees, whichever scheduler runs the model.

A job is submitted on the event loop and generated on a model's own thread; its text pieces travel back
through an asyncio queue. Pieces are handed over in bursts: the generating thread appends to a buffer and
wakes the event loop once per burst, at most every `DELIVERY_INTERVAL` (the first few at once). Every
hand-over costs the event loop the same whatever it carries (moderation, the stream's subscribers, an
SSE event), and on a small machine that work runs on the cores the model decodes on: a wake-up per token
cost a lone stream a tenth of its speed on two cores, while 20 updates a second read as smoothly.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bostonia.llm.base import GenerationRequest

DONE: Any = object()  # the end-of-job marker in a job's pieces
DELIVERY_INTERVAL = 0.05  # seconds between two hand-overs of one job's pieces to the event loop
EAGER_HANDOVERS = 5  # ... after the first few, which go at once: a reply visibly starts word by word
FinishReason = Literal["stop", "length", "time", "cancelled", "error"]


@dataclass(eq=False)
class GenerationJob:
    user_id: str
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop | None
    background: bool = False
    pieces: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    first_piece_at: float | None = None
    piece_count: int = 0  # pieces (tokens, for the local engine) generated
    finish_reason: FinishReason | None = None
    _outbox: list[Any] = field(default_factory=list)
    _outbox_lock: threading.Lock = field(default_factory=threading.Lock)
    _delivered_at: float = 0.0  # perf_counter of the last hand-over
    _handovers: int = 0

    def cancel(self) -> None:
        self.cancelled.set()

    def _emit(self, item: Any) -> None:
        """Hand a text piece, an exception or DONE to the consumer (from any thread)."""
        assert self.loop is not None
        with self._outbox_lock:
            wake = not self._outbox
            self._outbox.append(item)
        if wake:
            wait = self._delivered_at + DELIVERY_INTERVAL - time.perf_counter()
            if wait > 0 and self._handovers >= EAGER_HANDOVERS:  # what arrives meanwhile goes with it
                self.loop.call_soon_threadsafe(self.loop.call_later, wait, self._deliver)
            else:
                self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._outbox_lock:
            items, self._outbox = self._outbox, []
            self._delivered_at = time.perf_counter()
            self._handovers += 1
        # A burst goes on as one piece: each costs the chat layer the same whatever its length.
        for item in _joined(items):
            self.pieces.put_nowait(item)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            item = await self.pieces.get()
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def _joined(items: list[Any]) -> list[Any]:
    """`items` with each run of text pieces made one piece (exceptions and DONE stay where they are)."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and out and isinstance(out[-1], str):
            out[-1] += item
        else:
            out.append(item)
    return out


@dataclass(eq=False)
class BlockingJob(GenerationJob):
    """A job consumed by a plain thread (`ChatModel.stream` callers) instead of a coroutine."""

    loop: asyncio.AbstractEventLoop | None = None
    _items: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)

    def _emit(self, item: Any) -> None:
        self._items.put(item)

    def iterate(self, should_stop: Callable[[], bool], poll_seconds: float = 0.05) -> Iterator[str]:
        while True:
            if should_stop():
                self.cancel()
            try:
                item = self._items.get(timeout=poll_seconds)
            except queue.Empty:
                continue
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


# Callbacks the app wires to its metrics; the queues themselves know nothing of Prometheus.
@dataclass
class QueueObserver:
    depth: Callable[[int], None] = lambda depth: None
    first_piece: Callable[[float], None] = lambda seconds: None
    pieces: Callable[[int], None] = lambda count: None


class JobQueue(Protocol):
    """Where the chat layer sends a model's work: a one-at-a-time worker thread (remote models) or the local
    engine's batching scheduler. Both are fair across users and keep one user's jobs in order."""

    def submit(self, user_id: str, request: GenerationRequest, *, background: bool = False) -> GenerationJob:
        """Queue a reply (or, with `background`, a warm-up that yields to replies); called on the event loop."""
        ...

    def ahead_of(self, job: GenerationJob) -> int:
        """How many replies must start (or finish) before this one can start; 0 = it runs now."""
        ...

    @property
    def depth(self) -> int:
        """Replies waiting to start (warm-ups not counted)."""
        ...

    def stop(self) -> None:
        """Cancel everything and end the scheduling thread."""
        ...
