"""Speech work on a bounded pool of threads, users taking turns.

Every job is small — one sentence to speak, one recording to transcribe — and each user has a queue of
their own: when a worker frees up it takes the oldest job of the next user in turn, so one user's long
text (many sentences) cannot hold up another's first sentence by more than one sentence per worker.
A job cancelled before it starts never runs; one already running finishes and its result is dropped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from bostonia.errors import RateLimited

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


class FairScheduler:
    def __init__(self, workers: int = 1, *, max_queued_per_user: int = 200) -> None:
        self.workers = workers
        self.max_queued_per_user = max_queued_per_user
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voice")
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()  # users in turn order
        self._running = 0
        self.completed = 0

    def submit(self, owner: str, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `fn` for `owner`; the future resolves on the event loop with its result."""
        queue = self._queues.get(owner)
        if queue is not None and sum(1 for job in queue if not job.future.done()) >= self.max_queued_per_user:
            raise RateLimited("too much speech is waiting already; try again shortly", retry_after=5, code="voice_busy")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if queue is None:
            queue = self._queues[owner] = deque()
        queue.append(_Job(fn, future))
        self._dispatch()
        return future

    def queued(self, owner: str | None = None) -> int:
        queues = self._queues.values() if owner is None else [self._queues.get(owner, deque())]
        return sum(1 for queue in queues for job in queue if not job.future.done())

    def _next_job(self) -> _Job | None:
        while self._queues:
            owner, queue = next(iter(self._queues.items()))
            while queue and queue[0].future.done():  # cancelled while waiting
                queue.popleft()
            if not queue:
                del self._queues[owner]
                continue
            job = queue.popleft()
            if queue:
                self._queues.move_to_end(owner)  # the next job goes to the next user
            else:
                del self._queues[owner]
            return job
        return None

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running < self.workers and (job := self._next_job()) is not None:
            self._running += 1
            work = loop.run_in_executor(self._executor, job.fn)
            work.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: _Job, done: asyncio.Future[Any]) -> None:
        self._running -= 1
        self.completed += 1
        if not job.future.done():
            if done.exception() is not None:
                job.future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                job.future.set_result(done.result())
        elif not done.cancelled() and done.exception() is not None:
            log.debug("a cancelled speech job failed: %s", done.exception())
        self._dispatch()

    def shutdown(self) -> None:
        for queue in self._queues.values():
            for job in queue:
                job.future.cancel()
        self._queues.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
