"""SQL for users: the account row and what every account owns from birth (preferences, plan, credits)."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.users.schemas import User

# The effective plan: the newest active subscription, else free.
USER_COLUMNS = """
    u.id, u.email, u.display_name, u.role, u.is_active, u.age_verified, u.content_tier, u.created_at,
    coalesce((select s.tier from subscriptions s
              where s.user_id = u.id and s.status in ('active', 'trialing')
              order by s.created_at desc limit 1), 'free') as tier
"""


def user_from_row(row: Any) -> User:
    return msgspec.convert(dict(row), User, strict=False)


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, *, email: str, password_hash: str | None, display_name: str, role: str | None = None
    ) -> User:
        """Insert a user. With no explicit role, the very first account becomes the admin."""

        def insert(conn: sqlite3.Connection) -> User:
            chosen = role
            if chosen is None:
                has_users = conn.execute("select exists(select 1 from users)").fetchone()[0]
                chosen = "user" if has_users else "admin"
            user_id, now = new_id(), utcnow()
            conn.execute(
                "insert into users (id, email, password_hash, display_name, role, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (user_id, email, password_hash, display_name, chosen, now, now),
            )
            conn.execute("insert into user_preferences (user_id) values (?)", (user_id,))
            conn.execute("insert into credit_balances (user_id) values (?)", (user_id,))
            conn.execute(
                "insert into subscriptions (id, user_id, tier, status, provider)"
                " values (?, ?, 'free', 'active', 'default')",
                (new_id(), user_id),
            )
            return user_from_row(
                conn.execute(f"select {USER_COLUMNS} from users u where u.id = ?", (user_id,)).fetchone()
            )

        return await self.db.write(insert)

    async def email_exists(self, email: str) -> bool:
        return bool(await self.db.fetchval("select exists(select 1 from users where email = ?)", (email,)))

    async def get(self, user_id: str) -> User | None:
        row = await self.db.fetchone(f"select {USER_COLUMNS} from users u where u.id = ?", (user_id,))
        return user_from_row(row) if row else None

    async def get_with_password(self, email: str) -> tuple[User, str | None] | None:
        row = await self.db.fetchone(f"select {USER_COLUMNS}, u.password_hash from users u where u.email = ?", (email,))
        if row is None:
            return None
        password_hash = row.pop("password_hash")
        return user_from_row(row), password_hash

    async def list(self) -> list[User]:
        rows = await self.db.fetchall(f"select {USER_COLUMNS} from users u order by u.created_at")
        return [user_from_row(row) for row in rows]

    async def set_role(self, user_id: str, role: str) -> None:
        await self.db.execute_write("update users set role = ?, updated_at = ? where id = ?", (role, utcnow(), user_id))

    async def record_login(self, user_id: str) -> None:
        await self.db.execute_write("update users set last_login_at = ? where id = ?", (utcnow(), user_id))
