"""SQL for browser sessions and refresh tokens (table auth_sessions; only token hashes are stored)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from bostonia.db import Database
from bostonia.db.values import new_id, utc_in, utcnow

SessionKind = Literal["browser", "refresh"]


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        user_id: str,
        kind: SessionKind,
        token_hash: str,
        lifetime: timedelta,
        family_id: str | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
    ) -> str:
        session_id = new_id()
        await self.db.execute_write(
            "insert into auth_sessions (id, user_id, kind, token_hash, family_id, expires_at, user_agent, ip,"
            " created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                user_id,
                kind,
                token_hash,
                family_id or session_id,
                utc_in(lifetime),
                (user_agent or "")[:300],
                ip,
                utcnow(),
            ),
        )
        return session_id

    async def active_user_id(self, kind: SessionKind, token_hash: str) -> str | None:
        """The user of an unrevoked, unexpired session with this token hash."""
        return await self.db.fetchval(
            "select user_id from auth_sessions where token_hash = ? and kind = ?"
            " and revoked_at is null and expires_at > ?",
            (token_hash, kind, utcnow()),
        )

    async def revoke(self, token_hash: str) -> None:
        await self.db.execute_write(
            "update auth_sessions set revoked_at = ? where token_hash = ? and revoked_at is null",
            (utcnow(), token_hash),
        )
