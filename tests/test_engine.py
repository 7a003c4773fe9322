"""The batching engine's logic on a fake llama.cpp: fairness, order, queue positions, slots, chunked
prefill, stop strings, limits, cancellation and failures. (The real model: test_engine_model.py.)"""

from __future__ import annotations

import asyncio
import ctypes
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from bostonia.llm.base import ChatMessage, GenerationRequest, PromptTooLong, SamplingParams
from bostonia.llm.engine import WARM_UP_ROWS, BatchEngine, EngineStats
from bostonia.llm.jobs import GenerationJob
from bostonia.llm.kvcache import SessionCache, SessionState
from bostonia.llm.scheduler import FairQueue, SlotTable

EOG = 0
FOREVER = "\x01"  # a reply script of this means: never stop by itself


class FakeSampler:
    def __init__(self, backend: FakeBackend, script: str) -> None:
        self.backend = backend
        self.script = iter(script)
        self.forever = script == FOREVER

    def sample(self, index: int) -> int:
        assert index in self.backend.logit_rows, "sampled from a row that has no logits"
        if self.forever:
            return ord("x")
        return ord(next(self.script, chr(EOG)))

    def close(self) -> None:
        self.backend.closed_samplers += 1


class FakeBackend:
    """Tokens are characters. Checks the engine keeps every sequence's positions contiguous."""

    def __init__(self, n_seq: int = 2, seq_len: int = 4096, n_batch: int = 512, step_seconds: float = 0.0) -> None:
        self.n_seq, self.seq_len, self.n_batch = n_seq, seq_len, n_batch
        self.step_seconds = step_seconds
        self.kv: dict[int, list[int]] = {seq: [] for seq in range(n_seq)}
        self.replies: dict[str, str] = {}  # last message -> reply
        self.started: list[str] = []  # last message of each job, in the order jobs started
        self.shifts: list[tuple[int, int, int]] = []
        self.steps: list[dict[int, int]] = []  # per decode: seq -> tokens in it
        self.logit_rows: set[int] = set()
        self.gate: threading.Event | None = None  # decode waits for it
        self.hold_after: int | None = None  # ... once this many tokens are in the KV cache
        self.in_decode = threading.Event()
        self.fail_next_decode = False
        self.closed_samplers = 0
        self._batch: list[tuple[int, int, int, bool]] = []

    def prompt(self, request: GenerationRequest) -> list[int]:
        self.started.append(request.messages[-1].content)
        return [ord(ch) for ch in "|".join(m.content for m in request.messages)]

    def shared_prefix(self, request: GenerationRequest, prompt: list[int]) -> int:
        first = request.messages[0]
        return len(first.content) if first.role == "system" and len(request.messages) > 1 else 0

    def sampler(self, request: GenerationRequest, prompt: list[int]) -> FakeSampler:
        return FakeSampler(self, self.replies.get(request.messages[-1].content, "ok"))

    def piece(self, token: int) -> bytes:
        return chr(token).encode()

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def clear_batch(self) -> None:
        self._batch = []

    def add(self, tokens: list[int], start: int, seq: int, *, logits_last: bool) -> int:
        for offset, token in enumerate(tokens):
            self._batch.append((token, start + offset, seq, logits_last and offset == len(tokens) - 1))
        return len(self._batch) - 1

    def decode(self) -> None:
        self.in_decode.set()
        held = self.hold_after is None or sum(map(len, self.kv.values())) >= self.hold_after
        if self.gate is not None and held:
            assert self.gate.wait(10), "the test never opened the gate"
        if self.step_seconds:
            time.sleep(self.step_seconds)
        if self.fail_next_decode:
            self.fail_next_decode = False
            raise RuntimeError("llama_decode failed with status 1")
        counts: dict[int, int] = {}
        for token, pos, seq, _ in self._batch:
            assert pos == len(self.kv[seq]), f"sequence {seq}: position {pos} after {len(self.kv[seq])} tokens"
            self.kv[seq].append(token)
            counts[seq] = counts.get(seq, 0) + 1
        self.logit_rows = {index for index, entry in enumerate(self._batch) if entry[3]}
        self.steps.append(counts)

    def remove(self, seq: int, start: int = 0) -> bool:
        del self.kv[seq][start:]
        return True

    def history_head(self, request: GenerationRequest) -> int:
        first = next((n for n, m in enumerate(request.messages) if m.role != "system"), 0)
        return len("|".join(m.content for m in request.messages[: first + 1]))

    def shift(self, seq: int, start: int, end: int) -> bool:
        self.shifts.append((seq, start, end))
        del self.kv[seq][start:end]
        return True

    def save(self, seq: int) -> SessionState | None:
        data = json.dumps(self.kv[seq]).encode()
        return SessionState(tokens=np.zeros(0, dtype=np.int32), data=ctypes.create_string_buffer(data), size=len(data))

    def restore(self, seq: int, state: SessionState) -> bool:
        self.kv[seq] = json.loads(state.data.raw[: state.size])
        return True

    def close(self) -> None:
        pass


def request(text: str, session: str | None = None, **params: Any) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), params=SamplingParams(**params), session=session)


@contextmanager
def engine_on(backend: FakeBackend, **options: Any) -> Iterator[BatchEngine]:
    engine = BatchEngine(lambda: backend, model_id="fake", cache=options.pop("cache", SessionCache(1 << 30)), **options)
    try:
        yield engine
    finally:
        if backend.gate is not None:
            backend.gate.set()
        engine.stop()


async def text_of(job: GenerationJob) -> str:
    return "".join([piece async for piece in job])


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_replies_of_two_users_are_decoded_in_the_same_steps() -> None:
    backend = FakeBackend(n_seq=2)
    backend.replies = {"a": "alpha beta gamma", "b": "one two three four"}

    async def main() -> list[str]:
        with engine_on(backend) as engine:
            backend.gate = threading.Event()
            first = engine.submit("alice", request("a"))
            second = engine.submit("bob", request("b"))
            backend.gate.set()
            return await asyncio.gather(text_of(first), text_of(second))

    assert asyncio.run(main()) == ["alpha beta gamma", "one two three four"]
    assert sum(1 for step in backend.steps if len(step) == 2) >= 10  # both sequences in one decode, step after step


def test_a_user_with_queued_replies_does_not_delay_another_users_first() -> None:
    backend = FakeBackend(n_seq=1)
    backend.gate = threading.Event()

    async def main() -> dict[str, int]:
        with engine_on(backend) as engine:
            jobs = {"alice-1": engine.submit("alice", request("alice-1"))}
            await asyncio.to_thread(backend.in_decode.wait, 5)  # alice-1 holds the one slot
            for name in ("alice-2", "alice-3", "alice-4", "bob-1", "carol-1"):
                jobs[name] = engine.submit(name.split("-")[0], request(name))
            positions = {name: engine.ahead_of(job) for name, job in jobs.items()}
            assert engine.depth == 5
            backend.gate.set()
            await asyncio.gather(*(text_of(job) for job in jobs.values()))
            return positions

    positions = asyncio.run(main())
    assert backend.started == ["alice-1", "bob-1", "carol-1", "alice-2", "alice-3", "alice-4"]
    assert positions == {"alice-1": 0, "bob-1": 1, "carol-1": 2, "alice-2": 3, "alice-3": 4, "alice-4": 5}


def test_free_slots_go_first_to_users_with_nothing_running() -> None:
    backend = FakeBackend(n_seq=3)
    backend.gate = threading.Event()
    backend.replies = {"zed-1": FOREVER}

    async def main() -> list[int]:
        with engine_on(backend) as engine:
            zed = engine.submit("zed", request("zed-1", max_tokens=40))
            await asyncio.to_thread(backend.in_decode.wait, 5)
            jobs = [engine.submit("alice", request(f"alice-{n}")) for n in (1, 2, 3)]
            jobs.append(engine.submit("bob", request("bob-1")))
            positions = [engine.ahead_of(job) for job in jobs]
            backend.gate.set()
            await asyncio.gather(text_of(zed), *(text_of(job) for job in jobs))
            return positions

    positions = asyncio.run(main())
    # Two slots are free: alice's first and bob's first start together, before alice's second.
    assert backend.started[:3] == ["zed-1", "alice-1", "bob-1"]
    assert positions == [0, 1, 2, 0]


def test_cancelling_one_sequence_leaves_the_others_untouched() -> None:
    backend = FakeBackend(n_seq=3, step_seconds=0.002)
    backend.replies = {"a": "a " * 40, "b": FOREVER, "c": "c " * 40}

    async def main() -> tuple[list[str], GenerationJob]:
        with engine_on(backend) as engine:
            jobs = [engine.submit(f"user-{name}", request(name, max_tokens=100_000)) for name in ("a", "b", "c")]
            await jobs[1].pieces.get()
            jobs[1].cancel()
            texts = await asyncio.gather(*(text_of(job) for job in jobs))
            assert engine.ahead_of(engine.submit("user-d", request("d"))) == 0  # its slot is free again
            return texts, jobs[1]

    texts, cancelled = asyncio.run(main())
    assert texts[0] == "a " * 40 and texts[2] == "c " * 40
    assert cancelled.finish_reason == "cancelled" and set(texts[1]) <= {"x"}  # it could only end by the cancel
    assert backend.closed_samplers >= 3


def test_max_tokens_and_the_time_limit_cut_a_runaway_generation() -> None:
    backend = FakeBackend(n_seq=2, step_seconds=0.005)
    backend.replies = {"runaway": FOREVER}

    async def main() -> tuple[GenerationJob, str, GenerationJob, str]:
        with engine_on(backend, time_limit=0.3) as engine:
            by_length = engine.submit("u1", request("runaway", max_tokens=12))
            by_time = engine.submit("u2", request("runaway", max_tokens=100_000))
            return by_length, await text_of(by_length), by_time, await text_of(by_time)

    by_length, short, by_time, long = asyncio.run(main())
    assert short == "x" * 12 and by_length.finish_reason == "length"
    assert by_time.finish_reason == "time" and 0 < len(long) < 100_000


def test_a_request_can_set_its_own_time_limit() -> None:
    backend = FakeBackend(n_seq=1, step_seconds=0.005)
    backend.replies = {"runaway": FOREVER}

    async def main() -> GenerationJob:
        with engine_on(backend, time_limit=300) as engine:
            job = engine.enqueue(
                GenerationJob("u1", msgspec_replace(request("runaway", max_tokens=100_000), time_limit=0.1), None)
            )
            job.loop = asyncio.get_running_loop()
            await text_of(job)
            return job

    assert asyncio.run(main()).finish_reason == "time"


def msgspec_replace(req: GenerationRequest, **changes: Any) -> GenerationRequest:
    import msgspec

    return msgspec.structs.replace(req, **changes)


def test_stop_strings_end_the_reply_and_are_never_streamed() -> None:
    backend = FakeBackend(n_seq=1)
    backend.replies = {"q": "Fine, thanks.\nUser: and you?"}

    async def main() -> list[str]:
        with engine_on(backend) as engine:
            job = engine.submit("u1", request("q", stop=("\nUser:",)))
            pieces = []
            while (piece := await job.pieces.get()) is not None and isinstance(piece, str):
                pieces.append(piece)
            return pieces

    pieces = asyncio.run(main())
    assert "".join(pieces) == "Fine, thanks."
    assert all("\n" not in piece for piece in pieces)


def test_a_long_prompt_is_read_in_chunks_while_the_others_keep_streaming() -> None:
    backend = FakeBackend(n_seq=2, n_batch=512)
    backend.replies = {"streaming": FOREVER}
    long_prompt = "y" * 600

    async def main() -> None:
        with engine_on(backend, prefill_chunk=32) as engine:
            streaming = engine.submit("u1", request("streaming", max_tokens=100_000))
            await streaming.pieces.get()
            await text_of(engine.submit("u2", request(long_prompt)))
            streaming.cancel()
            await text_of(streaming)

    asyncio.run(main())
    busy = [step for step in backend.steps if 1 in step]
    assert len(busy) >= 600 // 32  # the long prompt took many steps...
    assert all(step[1] <= 32 and step[0] == 1 for step in busy)  # ...of one chunk each, beside a streamed token


def test_prompts_arriving_together_are_read_shortest_first() -> None:
    backend = FakeBackend(n_seq=3)
    backend.gate = threading.Event()
    firsts: list[str] = []

    async def first_piece(name: str, job: GenerationJob) -> None:
        await job.pieces.get()
        firsts.append(name)
        await text_of(job)

    async def main() -> None:
        with engine_on(backend, prefill_chunk=16) as engine:
            jobs = {name: engine.submit(name, request(name * size)) for name, size in (("l", 90), ("s", 10), ("m", 40))}
            backend.gate.set()
            await asyncio.gather(*(first_piece(name, job) for name, job in jobs.items()))

    asyncio.run(main())
    assert firsts == ["s", "m", "l"]
    assert all(sum(step.values()) <= 16 + 3 for step in backend.steps)  # never more than a chunk per step
    # One prompt per step: the short one's last tokens do not share a step with the next one's first.
    assert all(sum(1 for count in step.values() if count > 1) <= 1 for step in backend.steps)


def test_a_conversation_keeps_its_slot_and_only_new_tokens_are_read() -> None:
    backend = FakeBackend(n_seq=2)
    history = "x" * 300

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", request(history, session="a")))
        before = engine.stats.prefilled
        follow_up = GenerationRequest(
            messages=(ChatMessage("user", history), ChatMessage("assistant", "ok"), ChatMessage("user", "more")),
            session="a",
        )
        await text_of(engine.submit("u1", follow_up))
        assert engine.stats.prefilled - before < 12  # "|ok|more" (and the last token again), not 300 more

    with engine_on(backend) as engine:
        asyncio.run(main(engine))
        assert engine.stats.saves == engine.stats.restores == 0


def test_the_least_recently_used_conversation_is_saved_and_restored() -> None:
    backend = FakeBackend(n_seq=1)
    cache = SessionCache(1 << 30)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", request("a" * 200, session="a")))
        await text_of(engine.submit("u2", request("b" * 200, session="b")))  # takes the slot: a is saved
        assert engine.stats.saves == 1 and cache.get("a") is not None
        before = engine.stats.prefilled
        follow_up = GenerationRequest(
            messages=(ChatMessage("user", "a" * 200), ChatMessage("assistant", "ok"), ChatMessage("user", "and?")),
            session="a",
        )
        assert await text_of(engine.submit("u1", follow_up)) == "ok"
        assert engine.stats.restores == 1 and engine.stats.prefilled - before < 12

    with engine_on(backend, cache=cache) as engine:
        asyncio.run(main(engine))


def test_a_reply_stops_its_conversations_warm_up_and_goes_on_from_what_it_read() -> None:
    backend = FakeBackend(n_seq=1)
    backend.gate, backend.hold_after = threading.Event(), 256  # the warm-up is caught a quarter in
    history = "h" * 1000

    async def main(engine: BatchEngine) -> GenerationJob:
        warm = engine.submit("u1", msgspec_replace(request(history, session="a"), prefill_only=True), background=True)
        await until(lambda: engine.stats.prefilled >= 256)
        reply = engine.submit("u1", request(history, session="a"))
        assert engine.ahead_of(reply) == 0  # a warm-up never makes a reply wait
        backend.gate.set()  # type: ignore[union-attr]
        assert await text_of(reply) == "ok"
        await text_of(warm)
        return warm

    with engine_on(backend, prefill_chunk=64) as engine:
        warm = asyncio.run(main(engine))
        assert warm.finish_reason == "cancelled"
        assert engine.stats.prefilled <= len(history) + 2  # the reply did not read the history again


def test_warm_ups_wait_while_replies_queue() -> None:
    backend = FakeBackend(n_seq=1)
    backend.gate = threading.Event()

    async def main() -> None:
        with engine_on(backend) as engine:
            reply = engine.submit("u1", request("r1", session="a"))
            await asyncio.to_thread(backend.in_decode.wait, 5)
            warm = engine.submit("u2", msgspec_replace(request("w", session="b"), prefill_only=True), background=True)
            second = engine.submit("u3", request("r2", session="c"))
            assert engine.depth == 1  # warm-ups are not counted
            backend.gate.set()
            await asyncio.gather(text_of(reply), text_of(second), text_of(warm))

    asyncio.run(main())
    assert backend.started == ["r1", "r2", "w"]


def test_background_work_yields_to_a_reply_and_then_goes_on() -> None:
    """While a reply reads its prompt nothing else is in its steps; while it streams, a warm-up reads a few rows
    a step beside it (a chat someone left is read ahead for their return) and a summary waits; afterwards both
    go on, nothing lost."""
    backend = FakeBackend(n_seq=3, step_seconds=0.001)
    summary_text = "the story so far " * 60  # ~1,000 steps: still under way when the reply comes, however slow the loop
    backend.replies = {"summarise": summary_text, "q" * 200: "hello there, " * 5}

    async def main(engine: BatchEngine) -> tuple[str, str, GenerationJob]:
        summary = engine.submit("u1", request("summarise", session="s", max_tokens=2000), background=True)
        await until(lambda: summary.piece_count > 3)
        before = engine.stats.prefilled
        warm_up = msgspec_replace(request("w" * 3000, session="w"), prefill_only=True)
        warm = engine.submit("u2", warm_up, background=True)
        await until(lambda: engine.stats.prefilled > before + 100)  # both under way (the summary waiting)
        reply = engine.submit("u3", request("q" * 200, session="r"))
        said, summarised = await text_of(reply), await text_of(summary)
        await text_of(warm)
        return said, summarised, warm

    with engine_on(backend, prefill_chunk=32) as engine:
        said, summarised, warm = asyncio.run(main(engine))
        seqs = {backend.kv[seq][0]: seq for seq in backend.kv}  # each sequence's first token: its prompt's
        summary_seq, warm_seq, reply_seq = seqs[ord("s")], seqs[ord("w")], seqs[ord("q")]
        assert said == "hello there, " * 5 and summarised == summary_text  # nothing lost, nothing cut
        assert warm.finish_reason == "stop" and len(backend.kv[warm_seq]) == 2999  # read all but the last token
        reading = [step for step in backend.steps if step.get(reply_seq, 0) > 1]
        streaming = [step for step in backend.steps if step.get(reply_seq) == 1]
        assert len(reading) == 7 and all(set(step) == {reply_seq} for step in reading)  # 201 tokens, 32 a step
        assert streaming and all(summary_seq not in step for step in streaming)
        assert all(step.get(warm_seq, 0) <= WARM_UP_ROWS for step in streaming)
        assert sum(warm_seq in step for step in streaming) > len(streaming) // 2  # ... but it does read
        last = max(n for n, step in enumerate(backend.steps) if reply_seq in step)
        assert any(summary_seq in step for step in backend.steps[last + 1 :])  # the summary went on after
        assert engine.stats.held_steps >= len(reading)


def test_background_generation_waits_for_a_warm_up_to_finish_reading() -> None:
    backend = FakeBackend(n_seq=2, step_seconds=0.001)
    summary_text = "the story so far " * 60  # still under way when the warm-up comes, however slow the loop
    backend.replies = {"summarise": summary_text}

    async def main(engine: BatchEngine) -> None:
        summary = engine.submit("u1", request("summarise", session="s", max_tokens=2000), background=True)
        await until(lambda: summary.piece_count > 3)
        warm = engine.submit("u2", msgspec_replace(request("w" * 400, session="w"), prefill_only=True), background=True)
        await text_of(warm)
        assert warm.finish_reason == "stop" and await text_of(summary) == summary_text

    with engine_on(backend, prefill_chunk=32) as engine:
        asyncio.run(main(engine))
    seqs = {backend.kv[seq][0]: seq for seq in backend.kv}
    summary_seq, warm_seq = seqs[ord("s")], seqs[ord("w")]
    reading = [n for n, step in enumerate(backend.steps) if warm_seq in step]
    assert len(reading) == 13 and all(set(backend.steps[n]) == {warm_seq} for n in reading)  # 399 tokens, 32 a step
    assert any(summary_seq in step for step in backend.steps[: reading[0]])  # it was under way before
    assert any(summary_seq in step for step in backend.steps[reading[-1] + 1 :])  # ... and went on after


def test_a_failed_decode_fails_its_sequences_and_the_engine_keeps_serving() -> None:
    backend = FakeBackend(n_seq=2)

    async def main() -> None:
        with engine_on(backend) as engine:
            backend.fail_next_decode = True
            with pytest.raises(RuntimeError, match="llama_decode failed"):
                await text_of(engine.submit("u1", request("q")))
            assert await text_of(engine.submit("u1", request("q"))) == "ok"

    asyncio.run(main())


def test_a_prompt_longer_than_the_context_is_an_error_for_that_job_only() -> None:
    backend = FakeBackend(n_seq=2, seq_len=64)

    async def main() -> None:
        with engine_on(backend) as engine:
            too_long = engine.submit("u1", request("z" * 100))
            fine = engine.submit("u2", request("q"))
            with pytest.raises(PromptTooLong, match="more than the model's 64-token context") as refused:
                await text_of(too_long)
            assert refused.value.code == "context_length_exceeded"  # the caller's error (a 4xx), not the model's
            assert await text_of(fine) == "ok"

    asyncio.run(main())


def test_forgetting_a_conversation_drops_its_state() -> None:
    backend = FakeBackend(n_seq=1)
    cache = SessionCache(1 << 30)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", request("secret " * 20, session="a")))
        await text_of(engine.submit("u2", request("other", session="b")))  # a is saved to the cache
        engine.forget("a")
        engine.forget("b")
        await text_of(engine.submit("u3", request("next")))

    with engine_on(backend, cache=cache) as engine:
        asyncio.run(main(engine))
    assert cache.get("a") is None
    assert "secret" not in "".join(chr(t) for t in backend.kv[0])


class Job:
    def __init__(self, user_id: str, name: str) -> None:
        self.user_id, self.name = user_id, name


def test_fair_queue_order_matches_what_it_takes() -> None:
    queue: FairQueue[Job] = FairQueue()
    for user, name in [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"), ("c", "c1"), ("b", "b2")]:
        queue.push(Job(user, name))
    predicted = [job.name for job in queue.order({"a": 1})]
    taken = []
    running = {"a": 1}
    while (job := queue.peek(running)) is not None:
        queue.take(job)
        running[job.user_id] = running.get(job.user_id, 0) + 1
        taken.append(job.name)
    assert predicted == taken == ["b1", "c1", "a1", "b2", "a2", "a3"]


def test_slot_table_prefers_own_then_empty_then_least_recently_used() -> None:
    table = SlotTable(3)
    a, b, c = table.slots
    a.session, a.tokens, a.last_used = "x", [1], 5.0
    b.session, b.tokens, b.last_used = "y", [1], 2.0
    assert table.place("x", background=False).slot is a  # type: ignore[union-attr]
    assert table.place("new", background=False).slot is c  # type: ignore[union-attr]
    c.session, c.tokens, c.last_used, c.busy = "z", [1], 9.0, True
    placement = table.place("new", background=False)
    assert placement is not None and placement.slot is b and placement.evict
    a.busy = b.busy = True
    b.background = True
    assert table.place("new", background=True) is None  # a warm-up never stops anything
    placement = table.place("new", background=False)
    assert placement is not None and placement.slot is b and placement.preempt
    assert table.place("x", background=False) is None  # its own reply runs there: wait for it


def chat_with(system: str, text: str, session: str) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("system", system), ChatMessage("user", text)), session=session)


def test_a_new_chat_with_the_same_character_restores_its_system_prompt_instead_of_reading_it() -> None:
    backend = FakeBackend(n_seq=2)
    card = "You are Mira, a pilot. " * 20  # 460 tokens: every chat with this character begins with them

    async def main(engine: BatchEngine) -> None:
        assert await text_of(engine.submit("u1", chat_with(card, "hello", "a"))) == "ok"
        assert engine.stats.shared_saves == 1
        before = engine.stats.prefilled
        assert await text_of(engine.submit("u2", chat_with(card, "hi there", "b"))) == "ok"  # the other slot
        assert engine.stats.shared_restores == 1
        assert engine.stats.prefilled - before == len("|hi there")  # only what follows the system prompt
        assert backend.kv[1][: len(card)] == [ord(c) for c in card]
        assert await text_of(engine.submit("u3", chat_with("Short card.", "hey", "c"))) == "ok"
        assert engine.stats.shared_saves == 1  # a short system prompt is read, not kept

    with engine_on(backend, prefill_chunk=64) as engine:
        asyncio.run(main(engine))


def test_a_shared_system_prompt_outlives_a_restart(tmp_path: Path) -> None:
    card = "You keep the valley's stories. " * 10

    def run(prompt: GenerationRequest) -> EngineStats:
        backend = FakeBackend(n_seq=1)

        async def reply(engine: BatchEngine) -> str:
            return await text_of(engine.submit("u1", prompt))

        with engine_on(backend, cache=SessionCache(1 << 30, tmp_path, 1 << 30)) as engine:
            assert asyncio.run(reply(engine)) == "ok"
            return engine.stats

    assert run(chat_with(card, "hello", "a")).shared_saves == 1
    assert list(tmp_path.glob("*.part")) == [] and len(list(tmp_path.glob("*.kv"))) == 2  # the card's, the chat's
    after = run(chat_with(card, "good morning", "b"))  # a new process, a new chat with the character
    assert after.shared_restores == 1 and after.prefilled == len("|good morning")


def test_a_system_prompt_cut_off_while_read_is_kept_in_parts_for_the_next_start(tmp_path: Path) -> None:
    card = "You keep the valley's stories. " * 16  # 496 tokens
    backend = FakeBackend(n_seq=1)
    backend.gate, backend.hold_after = threading.Event(), 300

    async def cut_off(engine: BatchEngine) -> None:
        job = engine.submit("u1", chat_with(card, "hello", "a"))
        await until(lambda: sum(map(len, backend.kv.values())) >= 300)
        job.cancel()  # as good as killed: the whole prompt is never read
        assert backend.gate is not None
        backend.gate.set()
        assert await text_of(job) == ""

    with engine_on(backend, prefill_chunk=64, cache=SessionCache(1 << 30, tmp_path, 1 << 30)) as engine:
        asyncio.run(cut_off(engine))
        assert engine.stats.shared_parts == 3 and engine.stats.shared_saves == 0  # 128, 256 and 384 tokens read

    again = FakeBackend(n_seq=1)  # a new process: only the disk is left
    with engine_on(again, prefill_chunk=64, cache=SessionCache(1 << 30, tmp_path, 1 << 30)) as engine:

        async def reply() -> str:
            return await text_of(engine.submit("u1", chat_with(card, "hello", "b")))  # another chat with the card

        assert asyncio.run(reply()) == "ok"
        assert engine.stats.shared_restores == 1
        assert engine.stats.prefilled == len(card) - 384 + len("|hello")  # the rest of the card, then the message
        assert engine.stats.shared_saves == 1 and again.kv[0][: len(card)] == [ord(c) for c in card]
    assert len(list(tmp_path.glob("*.kv"))) == 3  # the card whole (its parts gone), the two chats


def test_a_stopped_engine_leaves_its_conversations_on_disk_for_the_next_start(tmp_path: Path) -> None:
    chat = "Tell me about the lighthouse keeper and the storm. " * 4

    def run(prompt: str) -> EngineStats:
        backend = FakeBackend(n_seq=2)
        with engine_on(backend, cache=SessionCache(1 << 30, tmp_path, 1 << 30)) as engine:

            async def reply() -> str:
                return await text_of(engine.submit("u1", request(prompt, session="lighthouse")))

            assert asyncio.run(reply()) == "ok"
            return engine.stats

    run(chat)
    assert len(list(tmp_path.glob("*.kv"))) == 1  # the conversation, saved on the way out
    after = run(chat + "ok|And then?")  # a new process: the conversation is restored, not read again
    assert after.restores == 1 and after.prefilled == len("|And then?")


def test_a_torn_state_file_is_not_restored(tmp_path: Path) -> None:
    cache = SessionCache(1 << 30, tmp_path, 1 << 30)
    data = b"x" * 100
    cache.put(
        "k",
        SessionState(tokens=np.arange(5, dtype=np.int32), data=ctypes.create_string_buffer(data), size=100),
        durable=True,
    )
    (path,) = tmp_path.glob("*.kv")
    path.write_bytes(path.read_bytes()[:-10])  # what a kill -9 mid-write would leave without the rename
    assert SessionCache(1 << 30, tmp_path, 1 << 30).get("k") is None


def moved_chat(turns: Iterable[int], session: str = "a") -> GenerationRequest:
    """A chat of `turns` (a system message, then a user message each): a later start leaves old turns out."""
    lines = [ChatMessage("system", "S" * 60)]
    lines += [ChatMessage("user", f"turn {n}: " + "w" * 40) for n in turns]
    return GenerationRequest(messages=tuple(lines), session=session)


def test_a_later_history_start_drops_the_left_out_turns_and_reads_only_what_is_new() -> None:
    backend = FakeBackend(n_seq=1)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", moved_chat(range(12))))
        before = engine.stats.prefilled
        await text_of(engine.submit("u1", moved_chat(range(4, 13))))  # turns 0-3 left out, turn 12 is new
        assert engine.stats.shifts == 1 and engine.stats.shift_kept > 300
        assert engine.stats.prefilled - before < 60  # turn 12 (and the last token again), not turns 4-11 too
        prompt = backend.prompt(moved_chat(range(4, 13)))
        assert backend.kv[0][: len(prompt)] == prompt  # the cache holds exactly the new prompt, positions and all

    with engine_on(backend) as engine:
        asyncio.run(main(engine))
    (seq, start, end), *more = backend.shifts
    assert not more and seq == 0 and start >= 61 and end - start == 4 * len("|turn 0: " + "w" * 40)


def test_without_context_shift_a_moved_start_is_read_again() -> None:
    backend = FakeBackend(n_seq=1)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", moved_chat(range(12))))
        before = engine.stats.prefilled
        await text_of(engine.submit("u1", moved_chat(range(4, 13))))
        assert engine.stats.shifts == 0 and engine.stats.prefilled - before > 400

    with engine_on(backend, context_shift=False) as engine:
        asyncio.run(main(engine))
    assert backend.shifts == []


def test_a_saved_conversation_whose_start_moved_is_restored_and_shifted() -> None:
    backend = FakeBackend(n_seq=1)
    cache = SessionCache(1 << 30)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", moved_chat(range(12), session="a")))
        await text_of(engine.submit("u2", moved_chat(range(12), session="b")))  # takes the slot: a is saved
        before = engine.stats.prefilled
        await text_of(engine.submit("u1", moved_chat(range(4, 13), session="a")))
        # The slot held b's chat, which shares only the system message: a's saved state, shifted, keeps more.
        assert engine.stats.restores == 1 and engine.stats.shifts == 1
        assert engine.stats.prefilled - before < 60

    with engine_on(backend, cache=cache) as engine:
        asyncio.run(main(engine))


def chat_with_memories(turns: int, at: int, memory: str, *, droppable: bool = True) -> GenerationRequest:
    """A chat of `turns` user messages with a recalled-memory block (a system message) before turn `at`."""
    lines = [ChatMessage("system", "S" * 60)]
    lines += [ChatMessage("user", f"turn {n}: " + "w" * 40) for n in range(turns)]
    block = f"[Memories: {memory}]"
    lines.insert(1 + at, ChatMessage("system", block))
    return GenerationRequest(messages=tuple(lines), session="a", droppable=(block,) if droppable else ())


def test_a_memory_block_that_moves_on_is_dropped_and_what_followed_it_kept() -> None:
    """The memory block moved from before turn 4 to before turn 10: the old one is taken out of the cache, the
    turns after it are kept (not read again), and only the new block and what follows it are read."""
    backend = FakeBackend(n_seq=1)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", chat_with_memories(11, 4, "the owl is named Pim")))
        before = engine.stats.prefilled
        moved = chat_with_memories(12, 10, "the river froze in May")
        await text_of(engine.submit("u1", moved))
        assert engine.stats.shifts == 1
        assert engine.stats.prefilled - before < 150  # the new block and turns 10-11, not turns 4-9 too
        prompt = backend.prompt(moved)
        assert backend.kv[0][: len(prompt)] == prompt

    with engine_on(backend) as engine:
        asyncio.run(main(engine))
    ((_, start, end),) = backend.shifts
    held = "".join(map(chr, backend.prompt(chat_with_memories(11, 4, "the owl is named Pim"))))  # tokens: characters
    block = "[Memories: the owl is named Pim]"
    assert block in held[start:end] and end - start <= len(block) + 1  # the block and its separator, nothing else


@pytest.mark.parametrize("droppable", [False, True])
def test_what_is_not_a_droppable_injection_is_read_again_after_it(droppable: bool) -> None:
    """A system message the prompt did not mark droppable, or a user message gone with a droppable block, is not
    shifted out: what follows was read with it there."""
    backend = FakeBackend(n_seq=1)
    first = chat_with_memories(11, 4, "the owl is named Pim", droppable=droppable)
    without = [m for n, m in enumerate(first.messages) if n != (6 if droppable else 5)]  # turn 4, or the block
    later = msgspec.structs.replace(first, messages=(*without, ChatMessage("user", "turn 11: " + "w" * 40)))

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", first))
        before = engine.stats.prefilled
        await text_of(engine.submit("u1", later))
        assert engine.stats.shifts == 0 and engine.stats.prefilled - before > 250

    with engine_on(backend) as engine:
        asyncio.run(main(engine))
    assert backend.shifts == []


def test_a_message_deleted_deeper_in_the_history_is_read_again_exactly() -> None:
    """Only a change at the history's start is shifted; after a deletion further on, what follows was read
    with the deleted message there, and the model must not go on half-remembering it."""
    backend = FakeBackend(n_seq=1)

    async def main(engine: BatchEngine) -> None:
        await text_of(engine.submit("u1", moved_chat(range(12))))
        before = engine.stats.prefilled
        without_turn_3 = moved_chat([n for n in range(13) if n != 3])
        await text_of(engine.submit("u1", without_turn_3))
        assert engine.stats.shifts == 0 and engine.stats.prefilled - before > 300

    with engine_on(backend) as engine:
        asyncio.run(main(engine))
    assert backend.shifts == []


def test_the_engine_says_whether_it_is_busy() -> None:
    """Bulk indexing spreads over both cores only while no local model works (`ModelRegistry.busy`)."""
    backend = FakeBackend(n_seq=2)
    backend.replies = {"a": "alpha beta gamma"}

    async def main() -> list[bool]:
        with engine_on(backend) as engine:
            seen = [engine.busy]
            backend.gate = threading.Event()
            job = engine.submit("alice", request("a"))
            seen.append(engine.busy)
            backend.gate.set()
            await text_of(job)
            await until(lambda: not engine.busy)
            return [*seen, engine.busy]

    assert asyncio.run(main()) == [False, True, False]


def test_the_registry_is_busy_while_any_local_model_is() -> None:
    from types import SimpleNamespace

    from bostonia.llm.registry import ModelRegistry

    registry = ModelRegistry("local")
    local = SimpleNamespace(model_id="local", busy=False)
    registry.register(local)  # type: ignore[arg-type]
    registry.register(SimpleNamespace(model_id="cloud"))  # type: ignore[arg-type]  # remote: never busy here
    assert not registry.busy()
    local.busy = True
    assert registry.busy()
