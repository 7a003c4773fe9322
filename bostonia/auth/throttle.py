"""Login throttling: repeated failures for one email or from one IP slow down, then block, that key.

Keys are the email *as typed* (lower-cased), not the account, so an unknown email is throttled exactly
like a real one and the responses cannot tell them apart. State is in memory: one process serves the
instance, and a restart forgetting a few blocks is harmless.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bostonia.errors import RateLimited

# Entries idle for longer than this are forgotten (failure counts decay).
FORGET_AFTER_SECONDS = 3600
SWEEP_EVERY = 1000


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        *,
        free_attempts: int,
        free_attempts_per_ip: int,
        max_block_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.free_attempts_per_ip = free_attempts_per_ip
        self.max_block_seconds = max_block_seconds
        self.clock = clock
        self._entries: dict[str, _Failures] = {}
        self._events = 0

    @staticmethod
    def _keys(email: str, ip: str | None) -> list[str]:
        keys = [f"email:{email.strip().lower()}"]
        if ip:
            keys.append(f"ip:{ip}")
        return keys

    def check(self, email: str, ip: str | None) -> None:
        """Raise RateLimited while the email or the IP is blocked."""
        now = self.clock()
        wait = 0.0
        for key in self._keys(email, ip):
            entry = self._entries.get(key)
            if entry is not None and entry.blocked_until > now:
                wait = max(wait, entry.blocked_until - now)
        if wait > 0:
            raise RateLimited(
                "too many failed sign-in attempts; try again later",
                retry_after=max(1, math.ceil(wait)),
                details={"retry_after": max(1, math.ceil(wait))},
                code="login_throttled",
            )

    def failed(self, email: str, ip: str | None) -> None:
        now = self.clock()
        for key in self._keys(email, ip):
            free = self.free_attempts_per_ip if key.startswith("ip:") else self.free_attempts
            entry = self._entries.setdefault(key, _Failures())
            if now - entry.last_failure > self.max_block_seconds * 2:
                entry.count = 0  # a quiet period wipes the slate
            entry.count += 1
            entry.last_failure = now
            if entry.count > free:
                block = min(self.max_block_seconds, 2 ** (entry.count - free - 1))
                entry.blocked_until = now + block
        self._sweep(now)

    def succeeded(self, email: str) -> None:
        self._entries.pop(self._keys(email, None)[0], None)

    def _sweep(self, now: float) -> None:
        self._events += 1
        if self._events % SWEEP_EVERY:
            return
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.blocked_until < now and now - entry.last_failure > FORGET_AFTER_SECONDS
        ]
        for key in stale:
            del self._entries[key]
