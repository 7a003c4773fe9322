from __future__ import annotations

import asyncio
import threading

import msgspec
import pytest

from bostonia.llm.base import ChatMessage, GenerationRequest
from bostonia.llm.worker import GenerationQueue, QueueObserver
from tests.fakes import ScriptedModel


def prompt(tag: str, session: str | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", tag),), session=session)


async def collect(job) -> str:  # type: ignore[no-untyped-def]
    return "".join([piece async for piece in job])


def test_pieces_stream_back_to_the_event_loop() -> None:
    model = ScriptedModel()
    model.enqueue(["a", "b", "c"])

    async def main() -> str:
        queue = GenerationQueue(model)
        try:
            return await collect(queue.submit("u1", prompt("x")))
        finally:
            queue.stop()

    assert asyncio.run(main()) == "abc"


def test_jobs_are_taken_round_robin_across_users() -> None:
    model = ScriptedModel()
    gate = model.hold()
    seen: list[str] = []
    original = model.stream

    def recording_stream(request, should_stop):  # type: ignore[no-untyped-def]
        seen.append(request.messages[0].content)
        yield from original(request, should_stop)

    model.stream = recording_stream  # type: ignore[method-assign]

    async def main() -> None:
        queue = GenerationQueue(model)
        try:
            first = queue.submit("alice", prompt("alice-1"))
            while not seen:  # alice-1 is running (and held by the gate)
                await asyncio.sleep(0.01)
            burst = [queue.submit("alice", prompt(f"alice-{n}")) for n in (2, 3, 4)]
            bob = queue.submit("bob", prompt("bob-1"))
            carol = queue.submit("carol", prompt("carol-1"))
            assert queue.depth == 5
            assert queue.position(bob) == 1 and queue.position(carol) == 2 and queue.position(burst[2]) == 4
            gate.set()
            await asyncio.gather(*(collect(job) for job in [first, *burst, bob, carol]))
        finally:
            queue.stop()

    asyncio.run(main())
    assert seen == ["alice-1", "alice-2", "bob-1", "carol-1", "alice-3", "alice-4"]


def test_a_cancelled_waiting_job_never_runs() -> None:
    model = ScriptedModel()
    gate = model.hold()

    async def main() -> str:
        queue = GenerationQueue(model)
        try:
            running = queue.submit("u1", prompt("first"))
            waiting = queue.submit("u2", prompt("second"))
            waiting.cancel()
            gate.set()
            await collect(running)
            return await collect(waiting)
        finally:
            queue.stop()

    assert asyncio.run(main()) == ""
    assert [p[0].content for p in model.prompts] == ["first"]


def test_cancelling_a_running_job_stops_it_early() -> None:
    model = ScriptedModel()
    model.hold()

    async def main() -> str:
        queue = GenerationQueue(model)
        try:
            job = queue.submit("u1", prompt("x"))
            first = await job.pieces.get()
            job.cancel()
            return first + await collect(job)
        finally:
            queue.stop()

    assert asyncio.run(main()) == "Hello"


def test_model_errors_surface_in_the_awaiting_coroutine() -> None:
    model = ScriptedModel()
    model.enqueue(ValueError("bad prompt"))

    async def main() -> None:
        queue = GenerationQueue(model)
        try:
            with pytest.raises(ValueError, match="bad prompt"):
                await collect(queue.submit("u1", prompt("x")))
            # The worker survives and serves the next job.
            assert await collect(queue.submit("u1", prompt("y"))) == "Hello from the scripted model."
        finally:
            queue.stop()

    asyncio.run(main())


def test_observer_sees_depth_first_token_and_pieces() -> None:
    depths: list[int] = []
    firsts: list[float] = []
    pieces: list[int] = []
    lock = threading.Lock()

    def record(target: list):  # type: ignore[no-untyped-def, type-arg]
        def add(value):  # type: ignore[no-untyped-def]
            with lock:
                target.append(value)

        return add

    model = ScriptedModel()

    async def main() -> None:
        queue = GenerationQueue(
            model, QueueObserver(depth=record(depths), first_piece=record(firsts), pieces=record(pieces))
        )
        try:
            await collect(queue.submit("u1", prompt("x")))
        finally:
            queue.stop()

    asyncio.run(main())
    assert 1 in depths and depths[-1] == 0
    assert len(firsts) == 1 and firsts[0] >= 0
    assert pieces == [5]


def test_stop_cancels_the_running_job_and_releases_waiting_ones() -> None:
    model = ScriptedModel()
    model.hold()

    async def main() -> tuple[str, str]:
        queue = GenerationQueue(model)
        running = queue.submit("u1", prompt("x"))
        first = await running.pieces.get()
        waiting = queue.submit("u2", prompt("y"))
        await asyncio.to_thread(queue.stop)  # the running job is held by the gate: stop must cancel it
        return first + await collect(running), await collect(waiting)

    assert asyncio.run(main()) == ("Hello", "")
    assert len(model.prompts) == 1


def test_background_warmups_wait_for_replies_and_yield_to_them() -> None:
    model = ScriptedModel()
    gate = model.hold()

    async def main() -> None:
        queue = GenerationQueue(model)
        try:
            reply = queue.submit("u1", prompt("reply", session="a"))
            await reply.pieces.get()  # running (held)
            warm_b = queue.submit(
                "u2", msgspec.structs.replace(prompt("warm", session="b"), prefill_only=True), background=True
            )
            newer_b = queue.submit(
                "u2", msgspec.structs.replace(prompt("warm2", session="b"), prefill_only=True), background=True
            )
            assert warm_b.cancelled.is_set() and not newer_b.cancelled.is_set()  # only the newest warm-up stays
            second = queue.submit("u3", prompt("reply2", session="c"))
            assert queue.depth == 1  # warm-ups are not counted as waiting replies
            gate.set()
            await collect(reply)
            await collect(second)
            await collect(newer_b)
        finally:
            queue.stop()

    asyncio.run(main())
    order = [(r.messages[0].content, r.prefill_only) for r in model.requests]
    assert order == [("reply", False), ("reply2", False), ("warm2", True)]


class SlowWarmModel(ScriptedModel):
    """Warm-ups that run until they are told to stop, like a long prefill read slice by slice."""

    def __init__(self) -> None:
        super().__init__()
        self.warming = threading.Event()
        self.warm_stopped = threading.Event()

    def stream(self, request, should_stop):  # type: ignore[no-untyped-def]
        if not request.prefill_only:
            yield from super().stream(request, should_stop)
            return
        self.requests.append(request)
        self.warming.set()
        for _ in range(500):
            if should_stop():
                self.warm_stopped.set()
                return
            threading.Event().wait(0.01)


def test_a_reply_preempts_the_warm_up_of_its_own_conversation() -> None:
    """The warm-up of conversation A may be reading a prompt the user's next message makes stale: the
    reply must not wait for it to finish."""
    model = SlowWarmModel()

    async def main() -> str:
        queue = GenerationQueue(model)
        try:
            warm = queue.submit(
                "u1", msgspec.structs.replace(prompt("warm", session="a"), prefill_only=True), background=True
            )
            await asyncio.to_thread(model.warming.wait, 5)
            reply = queue.submit("u1", prompt("reply", session="a"))
            text = await asyncio.wait_for(collect(reply), 3)
            assert warm.cancelled.is_set()
            return text
        finally:
            queue.stop()

    assert asyncio.run(main()) == "".join(model.default_reply)
    assert model.warm_stopped.is_set()
