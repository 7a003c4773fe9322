"""SQL for analytics: writing batches of events (with their daily counts) and the aggregate queries the
dashboards chart."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bostonia.db import Database, sqlite3
from bostonia.db.values import to_json

if TYPE_CHECKING:
    from bostonia.analytics.recorder import QueuedEvent


def _actors_in(conn: sqlite3.Connection, user_ids: set[str]) -> dict[str, str]:
    """The pseudonym of each account that still exists (made on its first event)."""
    found: dict[str, str] = {}
    for user_id in user_ids:
        conn.execute(
            "insert or ignore into analytics_actors (user_id, actor) select ?, ? where exists"
            " (select 1 from users where id = ?)",
            (user_id, secrets.token_hex(12), user_id),
        )
        row = conn.execute("select actor from analytics_actors where user_id = ?", (user_id,)).fetchone()
        if row:
            found[user_id] = str(row[0])
    return found


def write_batch_in(conn: sqlite3.Connection, batch: Sequence[QueuedEvent]) -> None:
    actors = _actors_in(conn, {e.user_id for e in batch if e.user_id})
    conn.executemany(
        "insert into analytics_events (name, actor, character_id, properties, created_at) values (?, ?, ?, ?, ?)",
        [
            (e.name, actors.get(e.user_id) if e.user_id else None, e.character_id, to_json(e.properties), e.created_at)
            for e in batch
        ],
    )
    daily: dict[tuple[str, str, str], int] = {}
    for e in batch:
        key = (e.created_at[:10], e.name, e.character_id or "")
        daily[key] = daily.get(key, 0) + 1
    conn.executemany(
        "insert into analytics_daily (day, name, character_id, count) values (?, ?, ?, ?)"
        " on conflict (day, name, character_id) do update set count = count + excluded.count",
        [(*key, count) for key, count in daily.items()],
    )


def purge_in(conn: sqlite3.Connection, events_before: str, days_before: str) -> tuple[int, int]:
    events = conn.execute("delete from analytics_events where created_at < ?", (events_before,)).rowcount
    days = conn.execute("delete from analytics_daily where day < ?", (days_before,)).rowcount
    return events, days


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> int:
    """Forget a deleted account's pseudonym: its events stay, as nobody's."""
    return conn.execute("delete from analytics_actors where user_id = ?", (user_id,)).rowcount


class AnalyticsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def daily_counts(
        self, names: Sequence[str], since_day: str, *, character_ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """(day, name, character_id, count) rows since `since_day` (YYYY-MM-DD)."""
        marks = ", ".join("?" for _ in names)
        sql = f"select day, name, character_id, count from analytics_daily where name in ({marks}) and day >= ?"
        params: list[Any] = [*names, since_day]
        if character_ids is not None:
            if not character_ids:
                return []
            sql += f" and character_id in ({', '.join('?' for _ in character_ids)})"
            params += list(character_ids)
        return await self.db.fetchall(sql + " order by day", params)

    async def active_actors(self, since: str) -> int:
        return int(
            await self.db.fetchval(
                "select count(distinct actor) from analytics_events where created_at >= ? and actor is not null",
                (since,),
            )
        )

    async def active_actors_per_day(self, since: str) -> dict[str, int]:
        rows = await self.db.fetchall(
            "select substr(created_at, 1, 10) as day, count(distinct actor) as n from analytics_events"
            " where created_at >= ? and actor is not null group by day",
            (since,),
        )
        return {row["day"]: int(row["n"]) for row in rows}

    async def per_minute(self, name: str, since: str) -> dict[str, int]:
        """Counts of one event per minute (keys `YYYY-MM-DDTHH:MM`)."""
        rows = await self.db.fetchall(
            "select substr(created_at, 1, 16) as minute, count(*) as n from analytics_events"
            " where name = ? and created_at >= ? group by minute",
            (name, since),
        )
        return {row["minute"]: int(row["n"]) for row in rows}

    async def count(self, name: str, since: str) -> int:
        return int(
            await self.db.fetchval(
                "select count(*) from analytics_events where name = ? and created_at >= ?", (name, since)
            )
        )

    async def response_ms_per_hour(self, since: str) -> dict[str, tuple[int, float]]:
        """(replies, mean ms) per hour (keys `YYYY-MM-DDTHH`) of the characters' replies."""
        rows = await self.db.fetchall(
            "select substr(created_at, 1, 13) as hour, count(*) as n,"
            " avg(json_extract(properties, '$.response_ms')) as ms from analytics_events"
            " where name = 'message_sent' and json_extract(properties, '$.sender') = 'character'"
            " and json_extract(properties, '$.response_ms') is not null and created_at >= ? group by hour",
            (since,),
        )
        return {row["hour"]: (int(row["n"]), float(row["ms"] or 0)) for row in rows}
