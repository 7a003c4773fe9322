"""SQL for personas: who the user plays in a chat (their name and description feed `{{user}}`)."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.personas.schemas import PersonaOut


def persona_from_row(row: Any) -> PersonaOut:
    data = dict(row)
    data["avatar_url"] = f"/media/avatars/{data['avatar_path']}" if data.get("avatar_path") else None
    return msgspec.convert(data, PersonaOut, strict=False)


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> int:
    return conn.execute("delete from personas where user_id = ?", (user_id,)).rowcount


class PersonaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, user_id: str) -> list[PersonaOut]:
        rows = await self.db.fetchall(
            "select * from personas where user_id = ? order by is_default desc, name collate nocase", (user_id,)
        )
        return [persona_from_row(row) for row in rows]

    async def get(self, persona_id: str) -> tuple[str, PersonaOut] | None:
        """(owner id, persona)."""
        row = await self.db.fetchone("select * from personas where id = ?", (persona_id,))
        return (row["user_id"], persona_from_row(row)) if row else None

    async def default(self, user_id: str) -> PersonaOut | None:
        row = await self.db.fetchone("select * from personas where user_id = ? and is_default = 1", (user_id,))
        return persona_from_row(row) if row else None

    async def save(self, user_id: str, fields: dict[str, Any], persona_id: str | None = None) -> PersonaOut:
        """Create (no id) or update a persona; making one the default unsets the previous default."""

        def write(conn: sqlite3.Connection) -> PersonaOut:
            now = utcnow()
            if fields.get("is_default"):
                conn.execute("update personas set is_default = 0 where user_id = ?", (user_id,))
            if persona_id is None:
                new = new_id()
                conn.execute(
                    "insert into personas (id, user_id, name, description, is_default, created_at, updated_at)"
                    " values (?, ?, ?, ?, ?, ?, ?)",
                    (
                        new,
                        user_id,
                        fields["name"],
                        fields.get("description", ""),
                        int(bool(fields.get("is_default"))),
                        now,
                        now,
                    ),
                )
                target = new
            else:
                values = {key: int(value) if isinstance(value, bool) else value for key, value in fields.items()}
                assignments = "".join(f"{column} = :{column}, " for column in values)
                conn.execute(
                    f"update personas set {assignments}updated_at = :now where id = :id",
                    {**values, "now": now, "id": persona_id},
                )
                target = persona_id
            return persona_from_row(conn.execute("select * from personas where id = ?", (target,)).fetchone())

        return await self.db.write(write)

    async def delete(self, persona_id: str) -> None:
        await self.db.execute_write("delete from personas where id = ?", (persona_id,))
