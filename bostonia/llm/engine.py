"""Continuous batching: one scheduler thread per local model serves every conversation at once.

The model's context holds `parallel` sequences (slots). Each step the thread decodes, in one `llama_decode`,
one token for every sequence that is generating plus a bounded chunk of prompt still to be read (chunked
prefill: a 3,000-token prompt costs the others one chunk per step, never a stall of seconds). Sampling runs
per sequence in llama.cpp's sampler chain. A conversation keeps its slot while it is recent: its tokens stay
in the KV cache and its next turn only reads what is new. When slots run out, the least recently used
conversation's sequence is saved into the `SessionCache` (RAM, then disk) and restored when it returns.

The engine talks to llama.cpp through a `Backend` (`LlamaBackend` in `local.py`); tests drive it with a fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bostonia.llm.base import GenerationRequest, PromptTooLong
from bostonia.llm.jobs import DONE, FinishReason, GenerationJob, QueueObserver
from bostonia.llm.kvcache import SessionCache, SessionState, common_prefix, dropped_span, reusable
from bostonia.llm.scheduler import FairQueue, Placement, Slot, SlotTable
from bostonia.llm.textout import StopBuffer

log = logging.getLogger(__name__)
# Restoring a saved state costs about as much as reading a few dozen tokens: below that gain, read them.
MIN_RESTORE_GAIN = 64
# Rows of a step a warm-up reads beside replies that stream (see `_decode_step`).
WARM_UP_ROWS = 8
# A shared prefix (a character's system prompt) being read is also kept in parts of this many tokens, on disk
# too, until it is whole: a process killed, or a reply cancelled, while reading it leaves what was read for
# the next start to restore. On a 2 GHz 2-core CPU a 500-token card takes ~4 s to read: without parts, a
# server that crashes (or is killed) sooner than that after each start reads it from the beginning every time
# and its first reply never comes. A part costs a ~3 MB state write per ~1 s of reading; once whole, they go.
SHARED_PART = 128

# What a dropped injected message may bring along besides its text: its role's name (control tokens render as
# nothing); any other word would be a message of the chat, which is read again exactly if it changed.
WRAPPER_WORDS = frozenset({"system"})
WORD = re.compile(r"\w+")


def left_out_injection(backend: Backend, slot: Slot, span: tuple[int, int]) -> bool:
    """Whether the span of `slot` a new prompt leaves out is one of the injected messages its last prompt marked
    droppable (`GenerationRequest.droppable`), with nothing of the chat itself."""
    if not slot.droppable:
        return False
    text = b"".join(backend.piece(token) for token in slot.tokens[span[0] : span[1]]).decode("utf-8", "replace")
    for injected in filter(None, slot.droppable):
        at = text.find(injected)
        if at >= 0 and set(WORD.findall(text[:at] + text[at + len(injected) :])) <= WRAPPER_WORDS:
            return True
    return False


class TokenSampler(Protocol):
    def sample(self, index: int) -> int:
        """The next token from the logits at batch index `index` of the last decode (accepted into the chain)."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """What the engine needs from a model runtime."""

    n_seq: int  # sequence slots
    seq_len: int  # most tokens one sequence may hold
    n_batch: int  # most tokens one decode may take

    def prompt(self, request: GenerationRequest) -> list[int]: ...
    def shared_prefix(self, request: GenerationRequest, prompt: list[int]) -> int:
        """How many leading tokens of `prompt` are its system message: every chat with the same character
        (and persona) begins with them."""
        ...

    def sampler(self, request: GenerationRequest, prompt: list[int]) -> TokenSampler: ...
    def piece(self, token: int) -> bytes: ...
    def is_eog(self, token: int) -> bool: ...
    def clear_batch(self) -> None: ...
    def add(self, tokens: list[int], start: int, seq: int, *, logits_last: bool) -> int: ...
    def decode(self) -> None: ...
    def remove(self, seq: int, start: int = 0) -> bool: ...
    def shift(self, seq: int, start: int, end: int) -> bool:
        """Drop positions [start, end) of the sequence and move what follows back to `start`."""
        ...

    def history_head(self, request: GenerationRequest) -> int:
        """How many leading tokens of the request's prompt end with its first message after the system
        messages (and a summary): a context shift may begin there - a long chat's start moving - and no
        deeper, where a change is an edit or a deletion the model must not go on half-remembering."""
        ...

    def save(self, seq: int) -> SessionState | None: ...
    def restore(self, seq: int, state: SessionState) -> bool: ...
    def close(self) -> None: ...


@dataclass(eq=False)
class Sequence:
    """A job running in a slot."""

    job: GenerationJob
    slot: Slot
    pending: list[int]  # prompt tokens still to read
    sampler: TokenSampler | None  # None for a warm-up (it only reads)
    stops: StopBuffer
    deadline: float
    next_token: int | None = None  # sampled, to be decoded next step
    generated: int = 0
    logits_index: int = -1
    shared_end: int = 0  # the length of the shared prefix this sequence reads and saves (0: none)

    def next_shared_save(self) -> int:
        """Where the next part of the shared prefix is saved (0: nothing more to save)."""
        read = len(self.slot.tokens)
        if read >= self.shared_end:
            return 0
        return min((read // SHARED_PART + 1) * SHARED_PART, self.shared_end)


@dataclass
class EngineStats:
    steps: int = 0
    saves: int = 0
    restores: int = 0
    prefilled: int = 0  # prompt tokens read
    generated: int = 0
    decode_seconds: float = 0.0
    shared_saves: int = 0  # shared prefixes (system prompts) saved
    shared_restores: int = 0  # ... and restored into a slot instead of read (whole or a part)
    shared_parts: int = 0  # parts of a shared prefix saved while it was read
    shifts: int = 0  # context shifts: a dropped span taken out of a sequence, the rest kept
    shift_kept: int = 0  # ... and the tokens they kept (not read again)
    batch_sizes: Counter[int] = field(default_factory=Counter)
    held_steps: int = 0  # steps in which background work waited for replies


class BatchEngine:
    """The local model's job queue (`JobQueue`): submit from the event loop, generate on its own thread."""

    def __init__(
        self,
        open_backend: Callable[[], Backend],
        *,
        model_id: str,
        cache: SessionCache,
        observer: QueueObserver | None = None,
        prefill_chunk: int = 32,
        time_limit: float = 300.0,
        context_shift: bool = True,
    ) -> None:
        self._open_backend = open_backend  # called on the scheduler thread: loading never blocks the caller
        self.cache = cache
        self.observer = observer or QueueObserver()
        self.prefill_chunk = prefill_chunk
        self.time_limit = time_limit
        self.context_shift = context_shift
        self.stats = EngineStats()
        self._waiting: FairQueue[GenerationJob] = FairQueue()
        self._background: OrderedDict[str | None, GenerationJob] = OrderedDict()  # by session, newest wins
        self._running: dict[GenerationJob, Slot] = {}
        self._forget: list[str] = []
        self._free_slots = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._failed: BaseException | None = None  # the backend could not open: every job gets this error
        self._backend: Backend | None = None
        self._slots = SlotTable(0)
        self._active: list[Sequence] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bostonia-engine-{model_id}", daemon=True)
        self._thread.start()

    # -- producer side (event loop) ----------------------------------------------------------------

    def submit(self, user_id: str, request: GenerationRequest, *, background: bool = False) -> GenerationJob:
        return self.enqueue(GenerationJob(user_id, request, asyncio.get_running_loop(), background=background))

    def enqueue(self, job: GenerationJob) -> GenerationJob:
        session = job.request.session
        with self._condition:
            if self._stopping or self._failed is not None:
                if self._failed is not None:
                    job._emit(self._failed)
                job._emit(DONE)
                return job
            # A newer warm-up of a conversation replaces the older one; a reply makes both pointless.
            if stale := self._background.pop(session, None):
                stale.cancel()
                stale._emit(DONE)
            for running in self._running:
                if running.background and running.request.session == session and session is not None:
                    running.cancel()  # it stops between steps; what it read stays in the slot
            if job.background:
                self._background[session] = job
            else:
                self._waiting.push(job)
                self.observer.depth(len(self._waiting))
            self._condition.notify()
        return job

    @property
    def depth(self) -> int:
        with self._condition:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        """Whether any work holds or waits for a slot: replies, warm-ups, background jobs."""
        with self._condition:
            return bool(self._running or len(self._waiting) or self._background)

    def ahead_of(self, job: GenerationJob) -> int:
        with self._condition:
            if job in self._running or job.started_at is not None:
                return 0
            order = self._waiting.order(self._running_per_user())
            if job not in order:
                return 0
            index = order.index(job)
            return 0 if index < self._free_slots else index - self._free_slots + 1

    def forget(self, session: str) -> None:
        self.cache.discard(session)
        with self._condition:
            self._forget.append(session)
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join(timeout=60)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    def _running_per_user(self) -> Counter[str]:
        return Counter(job.user_id for job in self._running if not job.background)

    # -- the scheduler thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            backend = self._backend = self._open_backend()
            self._slots = SlotTable(backend.n_seq)
            with self._condition:
                self._free_slots = backend.n_seq
        except Exception as exc:
            log.exception("could not open the model")
            with self._condition:
                self._failed = exc
            self._fail_everything(exc)
            return
        finally:
            self.ready.set()
        try:
            while self._wait_for_work():
                try:
                    self._step(backend)
                except Exception as exc:  # a bug or a failed decode: fail what ran, keep serving
                    log.exception("generation step failed")
                    self._reset(exc)
        finally:
            for sequence in list(self._active):
                self._finish(sequence, "cancelled")
            self._fail_everything(None)
            self._keep_for_the_next_start(backend)
            backend.close()

    def _wait_for_work(self) -> bool:
        with self._condition:
            while not (self._stopping or self._active or len(self._waiting) or self._background or self._forget):
                self._condition.wait()
            return not self._stopping

    def _fail_everything(self, exc: BaseException | None) -> None:
        with self._condition:
            waiting = [*self._waiting, *self._background.values()]
            self._waiting = FairQueue()
            self._background.clear()
        for job in waiting:
            if exc is not None:
                job._emit(exc)
            job._emit(DONE)

    def _step(self, backend: Backend) -> None:
        for job, placement in self._admit():
            self._start(backend, job, placement)
        now = time.perf_counter()
        for sequence in list(self._active):
            if sequence.job.cancelled.is_set():
                self._finish(sequence, "cancelled")
            elif now > sequence.deadline:
                self._finish(sequence, "time")
        if self._active:
            self._decode_step(backend)

    def _admit(self) -> list[tuple[GenerationJob, Placement]]:
        """Under the lock: pick the waiting jobs that start now, and their slots."""
        admitted: list[tuple[GenerationJob, Placement]] = []
        with self._condition:
            for session in self._forget:
                self._drop_session(session)
            self._forget.clear()
            for cancelled in [job for job in self._waiting if job.cancelled.is_set()]:
                self._waiting.remove(cancelled)
                cancelled._emit(DONE)
            running = self._running_per_user()
            blocked: set[str] = set()  # users whose next reply waits for its own conversation's slot
            while (reply := self._waiting.peek(running, blocked)) is not None:
                placement = self._slots.place(reply.request.session, background=False)
                if placement is None:
                    if self._slots.holding(reply.request.session) is not None:
                        blocked.add(reply.user_id)
                        continue
                    break  # every slot is busy with a reply
                self._waiting.take(reply)
                self._claim(reply, placement)
                running[reply.user_id] += 1
                admitted.append((reply, placement))
            if not len(self._waiting):
                for warm_session, warm_up in list(self._background.items()):
                    if warm_up.cancelled.is_set():
                        del self._background[warm_session]
                        warm_up._emit(DONE)
                        continue
                    placement = self._slots.place(warm_session, background=True)
                    if placement is None:
                        continue
                    del self._background[warm_session]
                    self._claim(warm_up, placement)
                    admitted.append((warm_up, placement))
            self.observer.depth(len(self._waiting))
        return admitted

    def _claim(self, job: GenerationJob, placement: Placement) -> None:
        if placement.preempt:
            for other, slot in self._running.items():
                if slot is placement.slot:
                    other.cancel()
        placement.slot.busy = True
        placement.slot.background = job.background
        self._running[job] = placement.slot
        self._free_slots = sum(not slot.busy or slot.background for slot in self._slots.slots)

    def _drop_session(self, session: str) -> None:
        slot = self._slots.holding(session)
        if slot is None:
            return
        slot.session = None
        if not slot.busy and self._backend is not None:
            self._backend.remove(slot.seq_id)
            slot.tokens = []
            slot.dirty = False

    def _start(self, backend: Backend, job: GenerationJob, placement: Placement) -> None:
        slot = placement.slot
        request = job.request
        for sequence in list(self._active):
            if sequence.slot is slot:  # a preempted warm-up
                self._finish(sequence, "cancelled", release=False)
        try:
            if placement.evict:
                self._evict(backend, slot)
            prompt = backend.prompt(request)
            if len(prompt) >= backend.seq_len:
                raise PromptTooLong(
                    f"the messages are {len(prompt)} tokens, more than the model's {backend.seq_len}-token context",
                    details={"prompt_tokens": len(prompt), "context_tokens": backend.seq_len},
                )
            if slot.session != request.session or not slot.tokens:
                self._restore(backend, slot, request, prompt)
            shared = backend.shared_prefix(request, prompt) if self.cache.keeps_anything else 0
            if shared < MIN_RESTORE_GAIN or common_prefix(slot.tokens, prompt) >= shared:
                shared = 0  # nothing worth sharing, or the slot has it already
            elif self._restore_shared(backend, slot, prompt, shared) == shared:
                shared = 0
            slot.session = request.session
            if self.context_shift:
                self._shift(backend, slot, request, prompt)
            slot.droppable = request.droppable
            # At least the last prompt token is decoded anew: its logits are what the first token is sampled from.
            # A warm-up stops before it, leaving it for the reply.
            keep = min(common_prefix(slot.tokens, prompt), len(prompt) - 1)
            if keep < len(slot.tokens):
                if not backend.remove(slot.seq_id, keep):
                    backend.remove(slot.seq_id)
                    keep = 0
                del slot.tokens[keep:]
                slot.dirty = True
            pending = prompt[keep : len(prompt) - 1] if request.prefill_only else prompt[keep:]
            log.debug(
                "%s %s: %d prompt tokens, %d kept in slot %d",
                "warm-up" if request.prefill_only else "reply",
                request.session,
                len(prompt),
                keep,
                slot.seq_id,
            )
            sampler = None if request.prefill_only else backend.sampler(request, prompt)
        except Exception as exc:
            job._emit(exc)
            job._emit(DONE)
            self._release(job, slot)
            return
        job.started_at = time.perf_counter()
        limit = request.time_limit if request.time_limit is not None else self.time_limit
        sequence = Sequence(job, slot, pending, sampler, StopBuffer(request.params.stop), job.started_at + limit)
        if shared and len(slot.tokens) < shared <= len(slot.tokens) + len(pending):
            sequence.shared_end = shared
        self._active.append(sequence)
        if not pending and sampler is None:
            self._finish(sequence, "stop")

    def _shift(self, backend: Backend, slot: Slot, request: GenerationRequest, prompt: list[int]) -> None:
        span = dropped_span(slot.tokens, prompt)
        if span is None:
            return
        deeper = span[0] > backend.history_head(request)
        if (deeper and not left_out_injection(backend, slot, span)) or not backend.shift(slot.seq_id, *span):
            return
        start, end = span
        del slot.tokens[start:end]
        slot.dirty = slot.shift_pending = True
        self.stats.shifts += 1
        self.stats.shift_kept += common_prefix(slot.tokens[start:], prompt[start:])

    def _evict(self, backend: Backend, slot: Slot) -> None:
        # A shift's positions are applied to the cache at the next decode; a state saved before it would
        # restore unshifted keys, so such a slot is dropped instead (rare: a decode follows almost always).
        if slot.session is not None and slot.dirty and slot.tokens and not slot.shift_pending:
            state = backend.save(slot.seq_id)
            if state is not None:
                state.tokens = np.asarray(slot.tokens, dtype=np.int32)
                self.cache.put(slot.session, state)
                self.stats.saves += 1
        backend.remove(slot.seq_id)
        slot.session, slot.tokens, slot.dirty, slot.droppable = None, [], False, ()

    def _keep_for_the_next_start(self, backend: Backend) -> None:
        """On the way out: what every slot holds, saved on disk under its conversation. The next start re-reads
        the chats people were just in (`Services._reread_recent_chats`); with these it restores them instead
        (a 2,000-token chat: ~25 s of reading on a 2-core CPU, against a ~50 MB write here)."""
        if self.cache.disk_dir is None:
            return
        began, kept = time.perf_counter(), 0
        for slot in self._slots.slots:
            if slot.session is None or not slot.tokens or slot.shift_pending:
                continue
            try:
                state = backend.save(slot.seq_id)
            except Exception:  # keeping is a kindness: a failure must not stop the shutdown
                log.exception("could not save the KV state of slot %d", slot.seq_id)
                continue
            if state is not None:
                state.tokens = np.asarray(slot.tokens, dtype=np.int32)
                self.cache.put(slot.session, state, durable=True)
                kept += 1
        if kept:
            log.info("kept the KV state of %d conversations on disk in %.2f s", kept, time.perf_counter() - began)

    def _restore(self, backend: Backend, slot: Slot, request: GenerationRequest, prompt: list[int]) -> None:
        session = request.session
        state = self.cache.get(session) if session is not None else None
        if state is None:
            return
        head = backend.history_head(request) if self.context_shift else None
        saved = reusable(state.tokens.tolist(), prompt, shift=self.context_shift, within=head)
        if saved < reusable(slot.tokens, prompt, shift=self.context_shift, within=head) + MIN_RESTORE_GAIN:
            return
        if backend.restore(slot.seq_id, state):
            slot.tokens = [int(token) for token in state.tokens]
            slot.dirty, slot.droppable = False, ()
            self.stats.restores += 1
        else:
            log.warning("could not restore a saved KV state; reading the prompt instead")
            slot.tokens = []

    # -- shared prefixes: a character's system prompt, read once ------------------------------------
    # A new chat, or one whose state is gone (a restart), begins with the same system message as every
    # other chat with its character: its KV state is kept once (on disk too) under a key of its tokens,
    # and restored instead of read - the first reply to a character then reads only the greeting and the
    # message (measured: 2.5 s -> 0.3 s TTFT with the bundled model's first character).

    @staticmethod
    def _shared_key(tokens: list[int]) -> str:
        return "shared:" + hashlib.sha256(np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()

    def _restore_shared(self, backend: Backend, slot: Slot, prompt: list[int], shared: int) -> int:
        """Restore the longest kept part of `prompt[:shared]` (the whole, else a part a read left) worth it;
        returns its length (0: none)."""
        least = common_prefix(slot.tokens, prompt) + MIN_RESTORE_GAIN
        for length in (shared, *range((shared - 1) // SHARED_PART * SHARED_PART, 0, -SHARED_PART)):
            if length < least:
                break
            tokens = prompt[:length]
            key = self._shared_key(tokens)
            if key not in self.cache:
                continue
            state = self.cache.get(key)
            if state is None or not np.array_equal(state.tokens, tokens) or not backend.restore(slot.seq_id, state):
                continue
            slot.tokens, slot.droppable = list(tokens), ()
            slot.dirty = True  # what follows it is this conversation's
            self.stats.shared_restores += 1
            return length
        return 0

    def _save_shared(self, backend: Backend, sequence: Sequence) -> None:
        tokens = sequence.slot.tokens
        key = self._shared_key(tokens)
        whole = len(tokens) == sequence.shared_end
        if whole:
            sequence.shared_end = 0
            for part in range(SHARED_PART, len(tokens), SHARED_PART):  # the parts a read left are not needed now
                self.cache.discard(self._shared_key(tokens[:part]))
        if key in self.cache:
            return
        state = backend.save(sequence.slot.seq_id)
        if state is not None:
            state.tokens = np.asarray(tokens, dtype=np.int32)
            self.cache.put(key, state, durable=True)
            if whole:
                self.stats.shared_saves += 1
            else:
                self.stats.shared_parts += 1

    def _decode_step(self, backend: Backend) -> None:
        began = time.perf_counter()
        backend.clear_batch()
        sampling: list[Sequence] = []  # sequences whose next token is sampled after this decode
        warmed: list[Sequence] = []  # warm-ups that read their last token in this decode
        touched: list[Sequence] = []  # everything with tokens in this batch
        # Background generation (summaries, memory extraction) waits while any reply is in the engine: on a
        # CPU every row of a step costs the replies' streams time. It also waits for warm-ups, the head start
        # of a reply someone is typing. A warm-up waits while a reply reads its prompt (reading is compute-
        # bound: its rows would come out of that reply's time to first token), and beside replies that stream
        # it reads `WARM_UP_ROWS` a step, not a whole chunk (a 32-row chunk beside four replies' one row each
        # made their steps several times longer). Holding it entirely made a return to a chat whose prompt had
        # moved on (its memory block) read all of that while the user waited: 0.03x -> 0.5x the first visit's
        # time to first token, A -> B -> A at once. What waits keeps its slot and what it has read, and goes on
        # in the first step it is not held.
        replying = any(not s.job.background for s in self._active)
        reply_reading = any(not s.job.background and s.pending for s in self._active)
        warming = any(s.sampler is None and s.pending for s in self._active)
        held = [
            s
            for s in self._active
            if s.job.background and ((replying or warming) if s.sampler is not None else reply_reading)
        ]
        for sequence in self._active:
            if sequence in held:
                continue
            if sequence.next_token is not None:
                slot = sequence.slot
                index = backend.add([sequence.next_token], len(slot.tokens), slot.seq_id, logits_last=True)
                sequence.logits_index = index
                slot.tokens.append(sequence.next_token)
                sequence.next_token = None
                sampling.append(sequence)
        touched.extend(sampling)
        # A bounded chunk of one prompt per step, even with nothing else running: prompt reading is
        # compute-bound on a CPU (the same time per token from 8 to 128 rows), so small chunks cost nothing,
        # and prompts arriving together are read one after another, shortest first - the lowest mean time to
        # first token. (Filling a step's room with the next prompt too delays the first one by those rows
        # and brings the next one's first token no sooner than a step of its own would.)
        budget = min(self.prefill_chunk, backend.n_batch - len(sampling))
        reading = sorted(
            (s for s in self._active if s.pending and s not in held),
            key=lambda s: (len(s.pending), s.job.started_at),
        )
        for sequence in reading[:1]:
            if budget <= 0:
                break
            slot, take = sequence.slot, budget
            if replying and sequence.job.background:  # a warm-up beside streaming replies
                take = min(take, WARM_UP_ROWS)
            if save_at := sequence.next_shared_save():  # stop where the shared prefix (or a part) ends, to save it
                take = min(take, save_at - len(slot.tokens))
            chunk = sequence.pending[:take]
            done = len(chunk) == len(sequence.pending)
            wants_logits = done and sequence.sampler is not None
            index = backend.add(chunk, len(slot.tokens), slot.seq_id, logits_last=wants_logits)
            slot.tokens.extend(chunk)
            del sequence.pending[: len(chunk)]
            budget -= len(chunk)
            self.stats.prefilled += len(chunk)
            touched.append(sequence)
            if wants_logits:
                sequence.logits_index = index
                sampling.append(sequence)
            elif done:
                warmed.append(sequence)
        for sequence in touched:
            sequence.slot.dirty = True
        started = time.perf_counter()
        try:
            backend.decode()
        except Exception:
            for sequence in touched:  # the KV cache of these sequences is now unknown: start them over
                sequence.slot.tokens = []
                sequence.slot.session = None
                backend.remove(sequence.slot.seq_id)
            raise
        finished = time.perf_counter()
        self.stats.decode_seconds += finished - started
        for sequence in held:  # time spent waiting for replies does not count against a job's time limit
            sequence.deadline += finished - began
        self.stats.held_steps += bool(held)
        for slot in self._slots.slots:
            slot.shift_pending = False  # a decode applies every pending shift to the cache
        for sequence in touched:
            read = len(sequence.slot.tokens)
            if sequence.shared_end and (read == sequence.shared_end or read % SHARED_PART == 0):
                self._save_shared(backend, sequence)
        self.stats.steps += 1
        self.stats.batch_sizes[len(sampling)] += 1
        for sequence in sampling:
            assert sequence.sampler is not None
            self._accept(backend, sequence, sequence.sampler.sample(sequence.logits_index))
        for sequence in warmed:
            self._finish(sequence, "stop")

    def _accept(self, backend: Backend, sequence: Sequence, token: int) -> None:
        job = sequence.job
        if backend.is_eog(token):
            self._finish(sequence, "stop")
            return
        sequence.generated += 1
        text, stopped = sequence.stops.feed(backend.piece(token))
        if text:
            self._send(job, text)
        if stopped:
            self._finish(sequence, "stop")
        elif sequence.generated >= job.request.params.max_tokens or len(sequence.slot.tokens) + 1 >= backend.seq_len:
            self._finish(sequence, "length")
        else:
            sequence.next_token = token

    def _send(self, job: GenerationJob, text: str) -> None:
        if job.first_piece_at is None:
            job.first_piece_at = time.perf_counter()
            self.observer.first_piece(job.first_piece_at - (job.started_at or job.submitted_at))
        job.piece_count += 1
        job._emit(text)

    def _finish(self, sequence: Sequence, reason: FinishReason, *, release: bool = True) -> None:
        job = sequence.job
        if reason != "cancelled" and (tail := sequence.stops.flush()):
            self._send(job, tail)
        if sequence.sampler is not None:
            sequence.sampler.close()
        self._active.remove(sequence)
        self.stats.generated += sequence.generated
        self.observer.pieces(sequence.generated)
        job.finish_reason = reason
        job._emit(DONE)
        if release:
            self._release(job, sequence.slot)
        else:
            with self._condition:
                self._running.pop(job, None)

    def _release(self, job: GenerationJob, slot: Slot) -> None:
        with self._condition:
            self._running.pop(job, None)
            if all(other is not slot for other in self._running.values()):
                slot.release(time.perf_counter())
            self._free_slots = sum(not s.busy or s.background for s in self._slots.slots)
            self._condition.notify()

    def _reset(self, exc: BaseException) -> None:
        for sequence in list(self._active):
            sequence.job._emit(exc)
            self._finish(sequence, "error")
