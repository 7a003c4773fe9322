"""The batching engine's scheduling decisions, free of llama.cpp: which waiting reply starts next, and in
which sequence slot.

Fairness: one user's replies start in the order they were sent; across users, the next reply goes to the
user with the fewest replies running now, then to the one served least recently - a user with five queued
replies does not delay another user's first. Slots: a conversation keeps its slot (its tokens stay in the KV cache);
a newcomer takes an empty slot, else the least recently used idle one (whose state the engine saves first),
else one a background warm-up holds (the warm-up stops; what it read stays useful).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Queued(Protocol):
    user_id: str


J = TypeVar("J", bound=Queued)


class FairQueue(Generic[J]):
    """Replies waiting for a slot: FIFO per user; across users the one with the fewest replies running goes
    first, then the one served least recently (never served: by arrival)."""

    MEMORY = 4096  # users whose last turn is remembered (older ones count as never served)

    def __init__(self) -> None:
        self._users: dict[str, deque[tuple[int, J]]] = {}
        self._served: OrderedDict[str, int] = OrderedDict()  # user -> tick of their last start
        self._tick = 0

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._users.values())

    def __iter__(self) -> Iterator[J]:
        return (job for jobs in self._users.values() for _, job in jobs)

    def push(self, job: J) -> None:
        self._tick += 1
        self._users.setdefault(job.user_id, deque()).append((self._tick, job))

    def remove(self, job: J) -> bool:
        jobs = self._users.get(job.user_id)
        entry = next((entry for entry in jobs or () if entry[1] is job), None)
        if jobs is None or entry is None:
            return False
        jobs.remove(entry)
        if not jobs:
            del self._users[job.user_id]
        return True

    def _key(self, user_id: str, running: Mapping[str, int], served: Mapping[str, int]) -> tuple[int, int, int]:
        return running.get(user_id, 0), served.get(user_id, -1), self._users[user_id][0][0]

    def peek(self, running: Mapping[str, int], skip: Container[str] = ()) -> J | None:
        """The job that should start next, given how many each user has running; users in `skip` wait."""
        candidates = [user_id for user_id in self._users if user_id not in skip]
        if not candidates:
            return None
        best = min(candidates, key=lambda user_id: self._key(user_id, running, self._served))
        return self._users[best][0][1]

    def take(self, job: J) -> None:
        """`job` (its user's oldest) starts now."""
        jobs = self._users[job.user_id]
        jobs.popleft()
        if not jobs:
            del self._users[job.user_id]
        self._tick += 1
        self._served[job.user_id] = self._tick
        self._served.move_to_end(job.user_id)
        while len(self._served) > self.MEMORY:
            self._served.popitem(last=False)

    def order(self, running: Mapping[str, int]) -> list[J]:
        """Every waiting job in the order it would start if nothing else arrived and nothing finished."""
        users = {user_id: deque(jobs) for user_id, jobs in self._users.items()}
        counts, served, tick = dict(running), dict(self._served), self._tick
        result: list[J] = []
        while users:
            best = min(users, key=lambda u: (counts.get(u, 0), served.get(u, -1), users[u][0][0]))
            jobs = users[best]
            result.append(jobs.popleft()[1])
            if not jobs:
                del users[best]
            counts[best] = counts.get(best, 0) + 1
            tick += 1
            served[best] = tick
        return result


@dataclass(eq=False)
class Slot:
    """One sequence of the model's context and what it holds."""

    seq_id: int
    session: str | None = None  # whose conversation the KV cache of this sequence holds
    tokens: list[int] = field(default_factory=list)  # exactly the tokens decoded into it, in order
    last_used: float = 0.0
    busy: bool = False  # a sequence is running in it
    background: bool = False  # ... and it is a warm-up, which a reply may stop
    dirty: bool = False  # changed since it was last saved or restored
    shift_pending: bool = False  # shifted (context shift) since the last decode
    droppable: tuple[str, ...] = ()  # `GenerationRequest.droppable` of the prompt the tokens were read for

    def release(self, now: float) -> None:
        self.busy = self.background = False
        self.last_used = now


@dataclass
class Placement:
    slot: Slot
    evict: bool = False  # the slot holds another conversation: save it first, then clear it
    preempt: bool = False  # a warm-up runs in it: stop that first


class SlotTable:
    def __init__(self, count: int) -> None:
        self.slots = [Slot(seq_id) for seq_id in range(count)]

    def holding(self, session: str | None) -> Slot | None:
        if session is None:
            return None
        return next((slot for slot in self.slots if slot.session == session), None)

    @property
    def idle(self) -> int:
        return sum(not slot.busy for slot in self.slots)

    def place(self, session: str | None, *, background: bool) -> Placement | None:
        """Where a job for `session` should run now, or None if it has to wait.

        A conversation always returns to its own slot (waiting while its own reply runs there). A reply may
        stop warm-ups; a warm-up only takes idle slots."""
        own = self.holding(session)
        if own is not None:
            if not own.busy:
                return Placement(own)
            if own.background and not background:
                return Placement(own, preempt=True)
            return None
        idle = [slot for slot in self.slots if not slot.busy]
        empty = [slot for slot in idle if slot.session is None and not slot.tokens]
        if empty:
            return Placement(empty[0])
        if idle:
            lru = min(idle, key=lambda slot: slot.last_used)
            return Placement(lru, evict=lru.session is not None and lru.session != session)
        if background:
            return None
        warming = [slot for slot in self.slots if slot.background]
        if warming:
            lru = min(warming, key=lambda slot: slot.last_used)
            return Placement(lru, evict=lru.session is not None, preempt=True)
        return None
