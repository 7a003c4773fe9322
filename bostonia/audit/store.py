"""SQL for the audit log (seed table audit_log). Rows are only ever appended."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.audit.schemas import AuditEntry
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow


def record_in(
    conn: sqlite3.Connection,
    *,
    actor_id: str | None,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an entry inside the caller's transaction, so the action and its record commit together."""
    conn.execute(
        "insert into audit_log (id, actor_id, action, target_type, target_id, details, created_at)"
        " values (?, ?, ?, ?, ?, ?, ?)",
        (new_id(), actor_id, action, target_type, target_id, to_json(details or {}), utcnow()),
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        *,
        actor_id: str | None,
        action: str,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.db.write(
            lambda conn: record_in(
                conn, actor_id=actor_id, action=action, target_type=target_type, target_id=target_id, details=details
            )
        )

    async def recent(self, *, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
        sql = "select * from audit_log"
        params: list[Any] = []
        if action:
            sql += " where action = ?"
            params.append(action)
        rows = await self.db.fetchall(sql + " order by created_at desc, rowid desc limit ?", [*params, limit])
        return [
            msgspec.convert({**row, "details": from_json(row["details"], {})}, AuditEntry, strict=False) for row in rows
        ]
