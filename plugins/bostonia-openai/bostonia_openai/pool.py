"""A pool of URLs serving the same models: each request goes to the least busy healthy one.

A URL that fails (connection refused, timeout, a 5xx) is marked unhealthy and rests for
`retry_unhealthy_seconds`; after that it is tried again with the next request (and stays in the pool if it
answers). When every URL rests, the request fails at once with the time until the first comes back — the
orchestrator then falls back to the next model of the route.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from bostonia.plugin_api import ProviderUnavailable

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Backend:
    url: str
    in_flight: int = 0
    unhealthy_until: float = 0.0
    failures: int = 0
    served: int = 0
    last_error: str = ""
    order: int = field(default=0)  # when it was last picked (ties go to the one picked longest ago)

    def healthy(self, now: float) -> bool:
        return self.unhealthy_until <= now


class BackendPool:
    def __init__(self, urls: list[str], *, retry_seconds: float) -> None:
        self.backends = [Backend(url.rstrip("/")) for url in urls]
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._ticks = itertools.count(1)

    def acquire(self, exclude: set[str] | frozenset[str] = frozenset()) -> Backend:
        """The least busy healthy backend (not one in `exclude`), counted busy until `release`."""
        now = time.monotonic()
        with self._lock:
            candidates = [b for b in self.backends if b.healthy(now) and b.url not in exclude]
            if not candidates:
                resting = [b for b in self.backends if b.url not in exclude]
                wait = min((b.unhealthy_until - now for b in resting), default=self.retry_seconds)
                raise ProviderUnavailable(
                    f"no healthy server ({len(self.backends)} in the pool; the next retry in {max(wait, 0):.0f} s)",
                    retry_after=max(wait, 0.0),
                )
            chosen = min(candidates, key=lambda b: (b.in_flight, b.order))
            chosen.in_flight += 1
            chosen.order = next(self._ticks)
            return chosen

    def release(self, backend: Backend, *, ok: bool) -> None:
        with self._lock:
            backend.in_flight -= 1
            if ok:
                backend.served += 1
                backend.failures = 0

    def mark_unhealthy(self, backend: Backend, error: str) -> None:
        with self._lock:
            backend.failures += 1
            backend.last_error = error
            backend.unhealthy_until = time.monotonic() + self.retry_seconds
        log.warning("%s is unhealthy (%s); retrying it in %.0f s", backend.url, error, self.retry_seconds)

    def snapshot(self) -> list[dict[str, object]]:
        now = time.monotonic()
        with self._lock:
            return [
                {"url": b.url, "healthy": b.healthy(now), "in_flight": b.in_flight, "served": b.served}
                for b in self.backends
            ]
