"""Turns waiting to be taken in group chats and shared rooms, and auto-mode's timer.

One reply is generated at a time per conversation. In a one-to-one chat a message sent meanwhile is
refused (as before); in a group or a room it is stored and shown at once, and its reply waits here, in
the order the messages came. A turn remembers whose it is: rate limits and credits count against the
person who sent the message (or asked a character to speak), never against whoever happens to own the
room.

Auto-mode: after a character's reply, when nothing waits, the next character speaks `delay` seconds
later; whenever someone types, the timer is pushed back (the characters let people get a word in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bostonia.identity import User

log = logging.getLogger(__name__)
TYPING_HOLD_SECONDS = 8.0  # how long a typing notice holds auto-mode back, at least


@dataclass(frozen=True)
class Turn:
    user: User  # whose generation it is (rate limits, credits)
    kind: Literal["answer", "trigger", "auto"]
    character_id: str | None = None  # a trigger's chosen speaker


class TurnQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._waiting: dict[str, deque[Turn]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, tuple[asyncio.Task[None], list[float]]] = {}

    def lock(self, conversation_id: str) -> asyncio.Lock:
        """Held while deciding whether a turn starts now or waits, so two never start at once."""
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    def push(self, conversation_id: str, turn: Turn) -> int:
        """Queue a turn; returns how many replies come before it (the one being generated included)."""
        waiting = self._waiting.setdefault(conversation_id, deque())
        waiting.append(turn)
        return len(waiting)

    def pop(self, conversation_id: str) -> Turn | None:
        waiting = self._waiting.get(conversation_id)
        if not waiting:
            return None
        turn = waiting.popleft()
        if not waiting:
            del self._waiting[conversation_id]
        return turn

    def pending(self, conversation_id: str) -> int:
        return len(self._waiting.get(conversation_id, ()))

    def forget(self, conversation_id: str) -> None:
        """The conversation was deleted: nothing of it may run any more."""
        self._waiting.pop(conversation_id, None)
        self.disarm(conversation_id)

    # -- auto-mode ---------------------------------------------------------------------------------------

    def arm(self, conversation_id: str, delay: float, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run` in `delay` seconds (replacing a timer already set), unless postponed or disarmed."""
        self.disarm(conversation_id)
        deadline = [self.clock() + delay]
        task = asyncio.create_task(self._wait_then(conversation_id, deadline, run))
        self._timers[conversation_id] = (task, deadline)

    def postpone(self, conversation_id: str, seconds: float = TYPING_HOLD_SECONDS) -> None:
        """Someone types: the characters wait at least `seconds` more."""
        timer = self._timers.get(conversation_id)
        if timer is not None:
            timer[1][0] = max(timer[1][0], self.clock() + seconds)

    def disarm(self, conversation_id: str) -> None:
        timer = self._timers.pop(conversation_id, None)
        if timer is not None and timer[0] is not asyncio.current_task():
            timer[0].cancel()

    def armed(self, conversation_id: str) -> bool:
        return conversation_id in self._timers

    async def _wait_then(self, conversation_id: str, deadline: list[float], run: Callable[[], Awaitable[None]]) -> None:
        while (left := deadline[0] - self.clock()) > 0:
            await asyncio.sleep(left)
        if self._timers.get(conversation_id, (None, None))[1] is deadline:
            del self._timers[conversation_id]
        try:
            await run()
        except Exception:  # an auto turn that fails must not take the timer machinery down
            log.exception("auto-mode turn in conversation %s failed", conversation_id)

    async def close(self) -> None:
        for task, _ in list(self._timers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timers.clear()
