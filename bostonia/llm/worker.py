"""Generation off the event loop. Local models schedule their own work (`BatchingModel`: the batching
engine); every other model (remote providers, test fakes) gets a `GenerationQueue`: worker threads that run one
job each, as many as the model's `concurrency` (1 unless it says more: a remote provider streams many
requests at once, its server does the batching).

Foreground jobs (replies) are taken round-robin across users, so one user's burst cannot starve the
others. Background jobs (warming the KV cache for a conversation someone just opened) run only when
no reply waits, and a reply for another conversation preempts them. Text pieces travel back to the
waiting coroutine through the job (jobs.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque

from bostonia.llm.base import BatchingModel, ChatModel, GenerationRequest
from bostonia.llm.jobs import DONE, GenerationJob, JobQueue, QueueObserver

__all__ = ["GenerationJob", "GenerationQueue", "GenerationQueues", "QueueObserver"]


class GenerationQueue:
    def __init__(self, model: ChatModel, observer: QueueObserver | None = None) -> None:
        self.model = model
        self.observer = observer or QueueObserver()
        self._waiting: OrderedDict[str, deque[GenerationJob]] = OrderedDict()
        self._background: OrderedDict[str | None, GenerationJob] = OrderedDict()  # by session, newest wins
        self.workers = max(1, int(getattr(model, "concurrency", 1)))
        self._running: set[GenerationJob] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"bostonia-gen-{model.model_id}-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- producer side (event loop) ------------------------------------------------------------

    def submit(self, user_id: str, request: GenerationRequest, *, background: bool = False) -> GenerationJob:
        job = GenerationJob(user_id, request, asyncio.get_running_loop(), background=background)
        with self._condition:
            if background:
                if stale := self._background.pop(request.session, None):
                    stale.cancel()
                    stale._emit(DONE)
                self._background[request.session] = job
            else:
                self._waiting.setdefault(user_id, deque()).append(job)
                if len(self._running) >= self.workers:
                    # Warming must not delay a reply, not even its own conversation's: what it has read so far
                    # stays in the KV cache (it stops between slices), and the reply goes on from there.
                    for running in self._running:
                        if running.background:
                            running.cancel()
            self.observer.depth(self.depth)
            self._condition.notify()
        return job

    @property
    def depth(self) -> int:
        """Replies waiting for the worker (background warm-ups are not counted)."""
        return sum(len(jobs) for jobs in self._waiting.values())

    def ahead_of(self, job: GenerationJob) -> int:
        """Replies that must start (or finish) before this one can start, counting those running."""
        with self._condition:
            if job in self._running:
                return 0
            busy = sum(1 for running in self._running if not running.background)
        return max(0, self.position(job) + busy - self.workers + 1)

    def position(self, job: GenerationJob) -> int:
        """How many replies run before this one (0 = next), following the round-robin order."""
        with self._condition:
            queues = [list(jobs) for jobs in self._waiting.values()]
        order: list[GenerationJob] = []
        while any(queues):
            for jobs in queues:
                if jobs:
                    order.append(jobs.pop(0))
        return order.index(job) if job in order else 0

    def stop(self) -> None:
        """Cancel the running jobs and every waiting one, then end the worker threads."""
        with self._condition:
            self._stopping = True
            for running in self._running:
                running.cancel()
            waiting = [job for jobs in self._waiting.values() for job in jobs] + list(self._background.values())
            for job in waiting:
                job.cancel()
                job._emit(DONE)
            self._waiting.clear()
            self._background.clear()
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    # -- worker thread ---------------------------------------------------------------------------

    def _next_job(self) -> GenerationJob | None:
        with self._condition:
            while not self._waiting and not self._background and not self._stopping:
                self._condition.wait()
            if self._stopping:
                return None
            if self._waiting:
                # Round-robin: take the first user's oldest job, then move that user to the back.
                user_id, jobs = next(iter(self._waiting.items()))
                job = jobs.popleft()
                del self._waiting[user_id]
                if jobs:
                    self._waiting[user_id] = jobs
            else:
                _, job = self._background.popitem(last=False)
            self.observer.depth(self.depth)
            self._running.add(job)
            return job

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if job.cancelled.is_set():
                job._emit(DONE)
                with self._condition:
                    self._running.discard(job)
                continue
            job.started_at = time.perf_counter()
            try:
                for piece in self.model.stream(job.request, job.cancelled.is_set):
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
                job._emit(DONE)
            finally:
                self.observer.pieces(job.piece_count)
                with self._condition:
                    self._running.discard(job)


class GenerationQueues:
    """One queue (and worker thread) per model, created on first use."""

    def __init__(self, observer: QueueObserver | None = None) -> None:
        self.observer = observer or QueueObserver()
        self._queues: dict[str, tuple[ChatModel, JobQueue]] = {}
        self._lock = threading.Lock()

    def get(self, model: ChatModel) -> JobQueue:
        with self._lock:
            entry = self._queues.get(model.model_id)
            if entry is None or entry[0] is not model:
                if isinstance(model, BatchingModel):
                    queue = model.job_queue(self.observer)
                else:
                    queue = GenerationQueue(model, self.observer)
                entry = self._queues[model.model_id] = (model, queue)
            return entry[1]

    def discard(self, model_id: str) -> None:
        """Stop and forget a model's queue (the model is being unloaded; its next use makes a new one)."""
        with self._lock:
            entry = self._queues.pop(model_id, None)
        if entry is not None:
            entry[1].stop()

    @property
    def depth(self) -> int:
        return sum(queue.depth for _, queue in self._queues.values())

    def stop(self) -> None:
        for _, queue in self._queues.values():
            queue.stop()
        self._queues.clear()
