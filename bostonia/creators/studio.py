"""The creator studio's numbers: each of my characters with its stats, and per-day series per character
(conversations, messages and views from the analytics events; ratings and unlocks from their tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bostonia.analytics.store import AnalyticsStore
from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.creators.schemas import CharacterStats, CreatorAnalytics, CreatorCharacters
from bostonia.creators.store import CreatorStore
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User

EVENT_METRICS = {"conversation_started": "conversations", "message_sent": "messages", "character_viewed": "views"}
METRICS = ("conversations", "messages", "views", "ratings", "unlocks")
MAX_DAYS = 365


def day_range(days: int, today: datetime | None = None) -> list[str]:
    end = (today or datetime.now(UTC)).date()
    return [(end - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


class StudioService:
    def __init__(self, creators: CreatorStore, characters: CharacterService, analytics: AnalyticsStore) -> None:
        self.creators = creators
        self.characters = characters
        self.analytics = analytics

    async def my_characters(self, user: User) -> list[Character]:
        page = await self.characters.browse(user, creator_id=user.id, sort="new", limit=100)
        return [c for c in page.items if c.creator_id == user.id]

    async def characters_with_stats(self, user: User) -> CreatorCharacters:
        characters = await self.my_characters(user)
        money = await self.creators.per_character(user.id)
        since = day_range(30)[0]
        views: dict[str, int] = {}
        for row in await self.analytics.daily_counts(
            ["character_viewed"], since, character_ids=[c.id for c in characters]
        ):
            views[row["character_id"]] = views.get(row["character_id"], 0) + int(row["count"])
        return CreatorCharacters(
            [
                CharacterStats(
                    id=c.id,
                    name=c.name,
                    visibility=c.visibility,
                    is_premium=c.is_premium,
                    premium_credits=c.premium_credits,
                    total_conversations=c.total_conversations,
                    total_messages=c.total_messages,
                    avg_rating=round(c.avg_rating, 2),
                    rating_count=c.rating_count,
                    favorite_count=c.favorite_count,
                    views_30d=views.get(c.id, 0),
                    unlocks=money.get(c.id, (0, 0))[0],
                    net_cents=money.get(c.id, (0, 0))[1],
                )
                for c in characters
            ]
        )

    async def analytics_for(self, user: User, *, days: int = 30, character_id: str | None = None) -> CreatorAnalytics:
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"days must be between 1 and {MAX_DAYS}", details={"field": "days"})
        characters = await self.my_characters(user)
        if character_id is not None:
            characters = [c for c in characters if c.id == character_id]
            if not characters:
                raise NotFound("character not found")
        ids = [c.id for c in characters]
        axis = day_range(days)
        position = {day: n for n, day in enumerate(axis)}
        series = {metric: {cid: [0] * days for cid in ids} for metric in METRICS}

        def add(metric: str, day: str, cid: str, count: int) -> None:
            if day in position and cid in series[metric]:
                series[metric][cid][position[day]] += count

        for row in await self.analytics.daily_counts(list(EVENT_METRICS), axis[0], character_ids=ids):
            add(EVENT_METRICS[row["name"]], row["day"], row["character_id"], int(row["count"]))
        for row in await self.creators.ratings_per_day(ids, axis[0]):
            add("ratings", row["day"], row["character_id"], int(row["n"]))
        for row in await self.creators.unlocks_per_day(ids, axis[0]):
            add("unlocks", row["day"], row["character_id"], int(row["n"]))
        totals = {
            metric: sum(sum(values) for values in by_character.values()) for metric, by_character in series.items()
        }
        return CreatorAnalytics(days=axis, series=series, totals=totals, characters={c.id: c.name for c in characters})
