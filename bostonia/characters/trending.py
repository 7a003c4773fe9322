"""Trending: recent engagement (new conversations, messages, ratings, favorites), decaying with age.

The score is computed from a few grouped queries and cached in memory for `trending_refresh_seconds`;
a stale ranking is served while a fresh one is computed in the background, so no request waits for it
except the very first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bostonia.config import CharactersConfig
from bostonia.db.values import utc_in

log = logging.getLogger(__name__)
# How much one event of each kind is worth at age zero (a rating counts by stars: rating - 2.5).
WEIGHTS = {"conversation": 3.0, "message": 0.2, "rating": 2.0, "favorite": 4.0}
# Only the best this many characters are kept; nobody pages that deep into "trending".
KEEP = 1000

Activity = list[tuple[str, str, int, float]]  # (character_id, kind, age in days, amount)


def scores(activity: Activity, half_life_hours: float) -> dict[str, float]:
    """Sum of weighted events, each halving in worth every `half_life_hours` (ages are whole days,
    counted from the middle of the day)."""
    totals: dict[str, float] = {}
    for character_id, kind, age_days, amount in activity:
        decay = 0.5 ** ((age_days + 0.5) * 24 / half_life_hours)
        totals[character_id] = totals.get(character_id, 0.0) + WEIGHTS.get(kind, 0.0) * amount * decay
    return totals


class TrendingCache:
    """The ranked (character_id, content_tier) list of public characters with positive scores."""

    def __init__(
        self,
        config: CharactersConfig,
        load_activity: Callable[[str], Awaitable[Activity]],
        load_public_tiers: Callable[[list[str]], Awaitable[dict[str, str]]],
    ) -> None:
        self.config = config
        self._load_activity = load_activity
        self._load_public_tiers = load_public_tiers
        self._ranking: list[tuple[str, str]] | None = None
        self._computed_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def compute(self) -> list[tuple[str, str]]:
        since = utc_in(-timedelta(days=self.config.trending_window_days))
        totals = scores(await self._load_activity(since), self.config.trending_half_life_hours)
        best = sorted((score, cid) for cid, score in totals.items() if score > 0)[::-1][:KEEP]
        tiers = await self._load_public_tiers([cid for _, cid in best])
        return [(cid, tiers[cid]) for _, cid in best if cid in tiers]

    async def refresh(self) -> None:
        async with self._lock:
            self._ranking = await self.compute()
            self._computed_at = time.monotonic()

    def invalidate(self) -> None:
        self._computed_at = 0.0

    async def ranking(self) -> list[tuple[str, str]]:
        if self._ranking is None:
            await self.refresh()
        elif time.monotonic() - self._computed_at > self.config.trending_refresh_seconds and not (
            self._refreshing and not self._refreshing.done()
        ):
            self._refreshing = asyncio.create_task(self._refresh_quietly())
        return self._ranking or []

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception:  # a failed refresh keeps the previous ranking; the next request retries
            log.exception("refreshing the trending ranking failed")

    async def stop(self) -> None:
        if self._refreshing and not self._refreshing.done():
            self._refreshing.cancel()
            await asyncio.gather(self._refreshing, return_exceptions=True)
