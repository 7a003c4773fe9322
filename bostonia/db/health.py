"""What `/ready` and `bostonia db check` look at."""

from __future__ import annotations

from typing import Any

from bostonia.db.connection import sqlite3
from bostonia.db.database import Database


def _versions(db: Database, conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        "sqlite_version": conn.execute("select sqlite_version()").fetchone()[0],
        "vec_version": conn.execute("select vec_version()").fetchone()[0],
        "pending_migrations": db.pending_migrations(conn),
    }


async def readiness(db: Database) -> dict[str, Any]:
    """Raises if the database is unreachable or sqlite-vec is not loaded."""
    return await db.read(lambda conn: _versions(db, conn))


def integrity(db: Database) -> dict[str, Any]:
    def check(conn: sqlite3.Connection) -> dict[str, Any]:
        return {
            "integrity": conn.execute("pragma integrity_check").fetchone()[0],
            "foreign_key_violations": len(conn.execute("pragma foreign_key_check").fetchall()),
            "journal_mode": conn.execute("pragma journal_mode").fetchone()[0],
            **_versions(db, conn),
        }

    return db.read_sync(check)
