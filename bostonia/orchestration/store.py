"""SQL for AI orchestration's tables: `ai_usage` (one row per generation attempt) and `ai_settings`."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.orchestration.accounting import Usage
from bostonia.orchestration.schemas import ModelTotals, UserDayTotals

COLUMNS = (
    "id, user_id, conversation_id, message_id, model_id, provider, tokens_in, tokens_out, cost_micros, status,"
    " source, error, created_at"
)
TOTALS = (
    "count(*) as generations, coalesce(sum(tokens_in), 0) as tokens_in, coalesce(sum(tokens_out), 0) as tokens_out,"
    " coalesce(sum(cost_micros), 0) as cost_micros, coalesce(sum(status = 'ok'), 0) as ok,"
    " coalesce(sum(status = 'fallback'), 0) as fallbacks, coalesce(sum(status = 'failed'), 0) as failures"
)
DEFAULT_MODEL_KEY = "default_model"


def _usage(row: dict[str, Any]) -> Usage:
    return msgspec.convert(row, Usage)


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, **fields: Any) -> Usage:
        """Store one attempt (`Usage` fields but `id` and `created_at`, which are made here)."""
        values = {"id": new_id(), "created_at": utcnow(), **fields}

        def insert(conn: sqlite3.Connection) -> None:
            # The conversation (or the account) may be gone by the time a reply ends: keep the usage.
            for key, table in (("conversation_id", "conversations"), ("user_id", "users")):
                if values.get(key) is not None:
                    found = conn.execute(f"select 1 from {table} where id = ?", (values[key],)).fetchone()
                    values[key] = values[key] if found else None
            names = COLUMNS.split(", ")
            conn.execute(
                f"insert into ai_usage ({COLUMNS}) values ({', '.join('?' for _ in names)})",
                [values.get(name) for name in names],
            )

        await self.db.write(insert)
        return _usage(values)

    async def for_message(self, message_id: str) -> list[Usage]:
        rows = await self.db.fetchall(
            f"select {COLUMNS} from ai_usage where message_id = ? order by created_at, rowid", (message_id,)
        )
        return [_usage(row) for row in rows]

    async def recent(self, *, limit: int = 100, user_id: str | None = None) -> list[Usage]:
        where, params = ("where user_id = ?", (user_id,)) if user_id else ("", ())
        rows = await self.db.fetchall(
            f"select {COLUMNS} from ai_usage {where} order by created_at desc, rowid desc limit ?", (*params, limit)
        )
        return [_usage(row) for row in rows]

    async def per_model(self, *, since: str) -> list[ModelTotals]:
        rows = await self.db.fetchall(
            f"select model_id, provider, {TOTALS} from ai_usage where created_at >= ?"
            " group by model_id, provider order by cost_micros desc, generations desc",
            (since,),
        )
        return [msgspec.convert(row, ModelTotals) for row in rows]

    async def per_user_day(self, *, since: str, user_id: str | None = None, limit: int = 500) -> list[UserDayTotals]:
        where = "u.created_at >= ?" + (" and u.user_id = ?" if user_id else "")
        params: tuple[Any, ...] = (since, user_id) if user_id else (since,)
        rows = await self.db.fetchall(
            f"select substr(u.created_at, 1, 10) as day, u.user_id, coalesce(users.email, '') as email, {TOTALS}"
            f" from ai_usage u left join users on users.id = u.user_id where {where}"
            " group by day, u.user_id order by day desc, cost_micros desc limit ?",
            (*params, limit),
        )
        return [msgspec.convert(row, UserDayTotals) for row in rows]

    async def user_total_since(self, user_id: str, since: str) -> int:
        """Micro-units `user_id`'s served replies cost since `since` (what payments would charge)."""
        return int(
            await self.db.fetchval(
                "select coalesce(sum(cost_micros), 0) from ai_usage where user_id = ? and status = 'ok'"
                " and created_at >= ?",
                (user_id, since),
            )
        )


class ModelChoices:
    """The default model chosen by command (`bostonia models default`), kept in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def default_model(self) -> str | None:
        value = await self.db.fetchval("select value from ai_settings where key = ?", (DEFAULT_MODEL_KEY,))
        return str(value) if value else None

    async def set_default_model(self, model_id: str | None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if model_id is None:
                conn.execute("delete from ai_settings where key = ?", (DEFAULT_MODEL_KEY,))
            else:
                conn.execute(
                    "insert into ai_settings (key, value, updated_at) values (?, ?, ?)"
                    " on conflict(key) do update set value = excluded.value, updated_at = excluded.updated_at",
                    (DEFAULT_MODEL_KEY, model_id, utcnow()),
                )

        await self.db.write(write)
