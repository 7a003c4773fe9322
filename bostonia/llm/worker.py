"""The generation queue: inference runs on one worker thread per model, never on the event loop.

Jobs are taken round-robin across users, so one user's burst cannot starve the others. Text
pieces travel back to the waiting coroutine through an asyncio queue (`call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bostonia.llm.base import ChatMessage, ChatModel, SamplingParams

_DONE = object()


@dataclass(eq=False)
class GenerationJob:
    user_id: str
    messages: list[ChatMessage]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    pieces: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    started_at: float | None = None
    first_piece_at: float | None = None
    piece_count: int = 0

    def cancel(self) -> None:
        self.cancelled.set()

    def _emit(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.pieces.put_nowait, item)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            item = await self.pieces.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


# Callbacks the app wires to its metrics; the queue itself knows nothing of Prometheus.
@dataclass
class QueueObserver:
    depth: Callable[[int], None] = lambda depth: None
    first_piece: Callable[[float], None] = lambda seconds: None
    pieces: Callable[[int], None] = lambda count: None


class GenerationQueue:
    def __init__(self, model: ChatModel, observer: QueueObserver | None = None) -> None:
        self.model = model
        self.observer = observer or QueueObserver()
        self._waiting: OrderedDict[str, deque[GenerationJob]] = OrderedDict()
        self._running: GenerationJob | None = None
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"bostonia-gen-{model.model_id}", daemon=True)
        self._thread.start()

    # -- producer side (event loop) ------------------------------------------------------------

    def submit(self, user_id: str, messages: list[ChatMessage], params: SamplingParams) -> GenerationJob:
        job = GenerationJob(user_id, messages, params, asyncio.get_running_loop())
        with self._condition:
            self._waiting.setdefault(user_id, deque()).append(job)
            self.observer.depth(self.depth)
            self._condition.notify()
        return job

    @property
    def depth(self) -> int:
        return sum(len(jobs) for jobs in self._waiting.values())

    def position(self, job: GenerationJob) -> int:
        """How many jobs run before this one (0 = next), following the round-robin order."""
        with self._condition:
            queues = [list(jobs) for jobs in self._waiting.values()]
        order: list[GenerationJob] = []
        while any(queues):
            for jobs in queues:
                if jobs:
                    order.append(jobs.pop(0))
        return order.index(job) if job in order else 0

    def stop(self) -> None:
        """Cancel the running job and every waiting one, then end the worker thread."""
        with self._condition:
            self._stopping = True
            if self._running is not None:
                self._running.cancel()
            for jobs in self._waiting.values():
                for job in jobs:
                    job.cancel()
                    job._emit(_DONE)
            self._waiting.clear()
            self._condition.notify_all()
        self._thread.join(timeout=30)

    # -- worker thread ---------------------------------------------------------------------------

    def _next_job(self) -> GenerationJob | None:
        with self._condition:
            while not self._waiting and not self._stopping:
                self._condition.wait()
            if self._stopping:
                return None
            # Round-robin: take the first user's oldest job, then move that user to the back.
            user_id, jobs = next(iter(self._waiting.items()))
            job = jobs.popleft()
            del self._waiting[user_id]
            if jobs:
                self._waiting[user_id] = jobs
            self.observer.depth(self.depth)
            self._running = job
            return job

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if job.cancelled.is_set():
                job._emit(_DONE)
                continue
            job.started_at = time.perf_counter()
            try:
                for piece in self.model.stream(job.messages, job.params, job.cancelled.is_set):
                    if job.first_piece_at is None:
                        job.first_piece_at = time.perf_counter()
                        self.observer.first_piece(job.first_piece_at - job.started_at)
                    job.piece_count += 1
                    job._emit(piece)
                    if job.cancelled.is_set():
                        break
            except Exception as exc:  # surfaced to the awaiting coroutine, not lost in this thread
                job._emit(exc)
            else:
                job._emit(_DONE)
            finally:
                self.observer.pieces(job.piece_count)
                with self._condition:
                    self._running = None


class GenerationQueues:
    """One queue (and worker thread) per model, created on first use."""

    def __init__(self, observer: QueueObserver | None = None) -> None:
        self.observer = observer or QueueObserver()
        self._queues: dict[str, GenerationQueue] = {}
        self._lock = threading.Lock()

    def get(self, model: ChatModel) -> GenerationQueue:
        with self._lock:
            queue = self._queues.get(model.model_id)
            if queue is None or queue.model is not model:
                queue = self._queues[model.model_id] = GenerationQueue(model, self.observer)
            return queue

    @property
    def depth(self) -> int:
        return sum(queue.depth for queue in self._queues.values())

    def stop(self) -> None:
        for queue in self._queues.values():
            queue.stop()
        self._queues.clear()
