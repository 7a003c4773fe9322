"""SQL for greeting A/B tests: experiments, which variant each new conversation got, and the outcome."""

from __future__ import annotations

from typing import Any

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.errors import Conflict

EXPERIMENT_COLUMNS = (
    "x.id, x.character_id, x.creator_id, x.greeting_a, x.greeting_b, x.status, x.created_at, x.stopped_at,"
    " c.name as character_name"
)


def assign_in(conn: sqlite3.Connection, conversation_id: str, experiment_id: str, variant: str) -> None:
    conn.execute(
        "insert into greeting_assignments (conversation_id, experiment_id, variant, created_at) values (?, ?, ?, ?)",
        (conversation_id, experiment_id, variant, utcnow()),
    )


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, character_id: str, creator_id: str, greeting_a: int, greeting_b: int) -> str:
        experiment_id = new_id()

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "insert into greeting_experiments (id, character_id, creator_id, greeting_a, greeting_b,"
                    " created_at) values (?, ?, ?, ?, ?, ?)",
                    (experiment_id, character_id, creator_id, greeting_a, greeting_b, utcnow()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    "this character has a running greeting test; stop it first", code="experiment_running"
                ) from None

        await self.db.write(run)
        return experiment_id

    async def get(self, experiment_id: str) -> dict[str, Any] | None:
        return await self.db.fetchone(
            f"select {EXPERIMENT_COLUMNS} from greeting_experiments x join characters c on c.id = x.character_id"
            " where x.id = ?",
            (experiment_id,),
        )

    async def for_creator(self, creator_id: str) -> list[dict[str, Any]]:
        return await self.db.fetchall(
            f"select {EXPERIMENT_COLUMNS} from greeting_experiments x join characters c on c.id = x.character_id"
            " where x.creator_id = ? order by x.created_at desc",
            (creator_id,),
        )

    async def running_for(self, character_id: str) -> dict[str, Any] | None:
        return await self.db.fetchone(
            "select id, greeting_a, greeting_b from greeting_experiments where character_id = ? and status = 'running'",
            (character_id,),
        )

    async def stop(self, experiment_id: str) -> None:
        await self.db.execute_write(
            "update greeting_experiments set status = 'stopped', stopped_at = ? where id = ? and status = 'running'",
            (utcnow(), experiment_id),
        )

    async def outcomes(self, experiment_id: str) -> dict[str, list[int]]:
        """Per variant, the number of messages the user sent in each conversation it was shown in."""
        rows = await self.db.fetchall(
            "select a.variant, (select count(*) from messages m where m.conversation_id = a.conversation_id"
            " and m.role = 'user') as sent from greeting_assignments a where a.experiment_id = ?",
            (experiment_id,),
        )
        found: dict[str, list[int]] = {"a": [], "b": []}
        for row in rows:
            found[row["variant"]].append(int(row["sent"]))
        return found
