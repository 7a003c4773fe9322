"""A sliding-window request limiter: at most N requests in any 60 seconds per key.

Keys are `user:<id>` for signed-in users (N from their plan's tier) and `ip:<address>` for anonymous
clients. Each key keeps the times of its recent requests (at most N of them), so the count is exact
and `Retry-After` says precisely when the oldest request leaves the window. State is in memory: one
process serves an instance.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import msgspec

from bostonia.config import RateLimitConfig
from bostonia.errors import RateLimited
from bostonia.identity import User

WINDOW_SECONDS = 60.0
SWEEP_EVERY = 5000


class Allowance(msgspec.Struct, frozen=True):
    """What is left for a key after a request was counted."""

    limit: int
    remaining: int
    reset_after: int  # seconds until the oldest counted request leaves the window


class RateLimiter:
    def __init__(self, config: RateLimitConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def limit_for(self, user: User | None) -> int:
        if user is None:
            return self.config.anonymous
        return int(getattr(self.config, user.tier, self.config.free))

    @staticmethod
    def key_for(user: User | None, ip: str | None) -> str:
        return f"user:{user.id}" if user is not None else f"ip:{ip or 'unknown'}"

    async def hit(self, user: User | None, ip: str | None) -> Allowance:
        """Count one request (or one WebSocket message) from this user, or this IP when anonymous.

        Raises RateLimited (429, with `retry_after`) when the window is full; the refused request is
        not counted.
        """
        return self.hit_key(self.key_for(user, ip), self.limit_for(user))

    def hit_key(self, key: str, limit: int) -> Allowance:
        if not self.config.enabled:
            return Allowance(limit=limit, remaining=limit, reset_after=0)
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_SECONDS:
            hits.popleft()
        if len(hits) >= limit:
            retry = max(1, math.ceil(hits[0] + WINDOW_SECONDS - now))
            raise RateLimited(
                f"rate limit exceeded: {limit} requests per minute; retry in {retry} s",
                retry_after=retry,
                details={"limit": limit, "window_seconds": int(WINDOW_SECONDS), "retry_after": retry},
            )
        hits.append(now)
        self._sweep(now)
        return Allowance(
            limit=limit, remaining=limit - len(hits), reset_after=max(0, math.ceil(hits[0] + WINDOW_SECONDS - now))
        )

    def _sweep(self, now: float) -> None:
        """Forget keys with no request in the window, so idle clients cost no memory."""
        self._calls += 1
        if self._calls % SWEEP_EVERY:
            return
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - WINDOW_SECONDS]:
            del self._hits[key]
