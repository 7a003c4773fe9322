"""Recording analytics events off the request path: `record()` only appends to a queue in memory; a
background task writes the queue in batches (one transaction each) every `flush_seconds`, or sooner when
`batch_size` events wait. A request never waits for analytics, and a burst costs a few writes.

What an event may carry is fixed here per event name: a handful of scalar properties, never message
text, emails, names or addresses. The account becomes a pseudonym when the batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from bostonia.analytics import store
from bostonia.config import AnalyticsConfig
from bostonia.db import Database
from bostonia.db.values import utcnow

log = logging.getLogger(__name__)
Scalar = str | int | float | bool | None
# The seed's events and the properties each may carry (anything else is a programming error).
EVENTS: dict[str, frozenset[str]] = {
    "conversation_started": frozenset({"greeting_variant"}),
    "message_sent": frozenset({"sender", "response_ms", "model", "tokens"}),
    "character_viewed": frozenset({"surface"}),
    "subscription_changed": frozenset({"tier", "status", "provider"}),
    "credit_purchased": frozenset({"credits", "amount_cents"}),
    "feature_used": frozenset({"feature"}),
}
MAX_TEXT = 64  # property strings are labels (a model id, a feature name), never prose


@runtime_checkable  # route handlers receive it as a dependency, which Litestar checks by type
class EventSink(Protocol):
    def record(
        self, name: str, *, user_id: str | None = None, character_id: str | None = None, **properties: Scalar
    ) -> None:
        """Queue an event; returns at once."""
        ...


def checked(name: str, properties: dict[str, Scalar]) -> dict[str, Scalar]:
    allowed = EVENTS.get(name)
    if allowed is None:
        raise ValueError(f"unknown analytics event {name!r}")
    if extra := set(properties) - allowed:
        raise ValueError(f"event {name!r} cannot carry {sorted(extra)}")
    clean: dict[str, Scalar] = {}
    for key, value in properties.items():
        if value is None:
            continue
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"event property {key!r} must be a scalar")
        clean[key] = value[:MAX_TEXT] if isinstance(value, str) else value
    return clean


class DiscardingSink:
    """For services built without analytics (unit tests): checks events like the real one, keeps none."""

    def record(
        self, name: str, *, user_id: str | None = None, character_id: str | None = None, **properties: Scalar
    ) -> None:
        checked(name, properties)


@dataclass(frozen=True)
class QueuedEvent:
    name: str
    user_id: str | None
    character_id: str | None
    properties: dict[str, Scalar]
    created_at: str


class EventRecorder:
    def __init__(
        self, db: Database, config: AnalyticsConfig, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._queue: list[QueuedEvent] = []
        self._wake: asyncio.Event | None = None  # made in start(): it belongs to the running loop
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # events refused because the queue was full
        self.batches_written = 0
        self._last_purge = 0.0

    def record(
        self, name: str, *, user_id: str | None = None, character_id: str | None = None, **properties: Scalar
    ) -> None:
        clean = checked(name, properties)
        if not self.config.enabled:
            return
        if len(self._queue) >= self.config.max_queued:
            self.dropped += 1
            return
        self._queue.append(QueuedEvent(name, user_id, character_id, clean, utcnow()))
        if len(self._queue) >= self.config.batch_size and self._wake is not None:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._wake))

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # woken early by a full batch, else on the clock
                await asyncio.wait_for(wake.wait(), timeout=self.config.flush_seconds)
            wake.clear()
            try:
                await self.flush()
                if time.monotonic() - self._last_purge > 3600:
                    self._last_purge = time.monotonic()
                    await self.purge()
            except Exception:  # a failed batch is logged; analytics must never take the server down
                log.exception("writing analytics events failed")

    async def flush(self) -> int:
        """Write everything queued so far, a batch (one transaction) at a time. Returns events written."""
        written = 0
        while self._queue:
            batch, self._queue = self._queue[: self.config.batch_size], self._queue[self.config.batch_size :]
            await self.db.write(partial(store.write_batch_in, batch=batch))
            self.batches_written += 1
            written += len(batch)
        return written

    async def purge(self) -> tuple[int, int]:
        """Forget raw events older than `retention_days` and daily counts older than `daily_retention_days`."""
        now = self.clock()
        events_before = (now - timedelta(days=self.config.retention_days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        days_before = (now - timedelta(days=self.config.daily_retention_days)).strftime("%Y-%m-%d")
        return await self.db.write(lambda conn: store.purge_in(conn, events_before, days_before))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = self._wake = None
        try:
            await self.flush()
        except Exception:
            log.exception("writing the last analytics events failed")
