"""SQL for users: the account row and what every account owns from birth (preferences, plan, credits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bostonia.audit.store import record_in
from bostonia.billing import store as billing_store
from bostonia.billing.store import effective_tier_sql
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.identity import User
from bostonia.users.schemas import Preferences, Profile

# The plan in force (billing's rule: the best granting subscription, else free), read on every request.
USER_COLUMNS = f"""
    u.id, u.email, u.display_name, u.role, u.is_active, u.age_verified, u.content_tier, u.created_at,
    {effective_tier_sql("u.id")} as tier,
    coalesce((select p.theme from user_preferences p where p.user_id = u.id), 'system') as theme,
    coalesce((select p.language from user_preferences p where p.user_id = u.id), 'en') as language
"""
PROFILE_COLUMNS = """
    u.bio, u.email_verified, u.date_of_birth, u.last_login_at, u.password_hash is not null as has_password
"""
PREFERENCE_COLUMNS = (
    "theme",
    "language",
    "notifications_enabled",
    "memory_visible",
    "typing_indicators",
    "voice_autoplay",
)
PROFILE_FIELDS = ("display_name", "bio", "content_tier")


def user_from_row(row: Any) -> User:
    return msgspec.convert(dict(row), User, strict=False)


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        email: str,
        password_hash: str | None,
        display_name: str,
        role: str | None = None,
        email_verified: bool = False,
    ) -> User:
        """Insert a user. With no explicit role, the very first account becomes the admin."""

        def insert(conn: sqlite3.Connection) -> User:
            chosen = role
            if chosen is None:
                has_users = conn.execute("select exists(select 1 from users)").fetchone()[0]
                chosen = "user" if has_users else "admin"
            user_id, now = new_id(), utcnow()
            conn.execute(
                "insert into users (id, email, password_hash, display_name, role, email_verified, created_at,"
                " updated_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, email, password_hash, display_name, chosen, int(email_verified), now, now),
            )
            conn.execute("insert into user_preferences (user_id) values (?)", (user_id,))
            billing_store.open_account_in(conn, user_id)  # a zero balance and the free plan
            return user_from_row(
                conn.execute(f"select {USER_COLUMNS} from users u where u.id = ?", (user_id,)).fetchone()
            )

        return await self.db.write(insert)

    async def email_exists(self, email: str) -> bool:
        return bool(await self.db.fetchval("select exists(select 1 from users where email = ?)", (email,)))

    async def get(self, user_id: str) -> User | None:
        row = await self.db.fetchone(f"select {USER_COLUMNS} from users u where u.id = ?", (user_id,))
        return user_from_row(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = await self.db.fetchone(f"select {USER_COLUMNS} from users u where u.email = ?", (email,))
        return user_from_row(row) if row else None

    async def get_with_password(self, email: str) -> tuple[User, str | None] | None:
        row = await self.db.fetchone(f"select {USER_COLUMNS}, u.password_hash from users u where u.email = ?", (email,))
        if row is None:
            return None
        password_hash = row.pop("password_hash")
        return user_from_row(row), password_hash

    async def password_hash(self, user_id: str) -> str | None:
        return await self.db.fetchval("select password_hash from users where id = ?", (user_id,))

    async def profile(self, user_id: str) -> Profile | None:
        row = await self.db.fetchone(
            f"select {USER_COLUMNS}, {PROFILE_COLUMNS} from users u where u.id = ?", (user_id,)
        )
        if row is None:
            return None
        providers = await self.db.fetchall(
            "select provider from auth_identities where user_id = ? order by created_at", (user_id,)
        )
        row["linked_providers"] = [p["provider"] for p in providers]
        row["credits"] = msgspec.to_builtins(await billing_store.BillingStore(self.db).balance(user_id))
        return msgspec.convert(row, Profile, strict=False)

    async def list(self) -> list[User]:
        rows = await self.db.fetchall(f"select {USER_COLUMNS} from users u order by u.created_at")
        return [user_from_row(row) for row in rows]

    async def count_active_admins(self) -> int:
        return int(await self.db.fetchval("select count(*) from users where role = 'admin' and is_active = 1"))

    # -- changes ---------------------------------------------------------------------------------

    async def update_profile(self, user_id: str, changes: Mapping[str, Any]) -> None:
        columns = [name for name in PROFILE_FIELDS if name in changes]
        if not columns:
            return
        assignments = ", ".join(f"{name} = ?" for name in columns)
        await self.db.execute_write(
            f"update users set {assignments}, updated_at = ? where id = ?",
            (*(changes[name] for name in columns), utcnow(), user_id),
        )

    async def set_age(self, user_id: str, *, date_of_birth: str, age_verified: bool, content_tier: str) -> None:
        await self.db.execute_write(
            "update users set date_of_birth = ?, age_verified = ?, content_tier = ?, updated_at = ? where id = ?",
            (date_of_birth, int(age_verified), content_tier, utcnow(), user_id),
        )

    async def reset_age(self, user_id: str, *, actor_id: str | None = None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "update users set date_of_birth = null, age_verified = 0, content_tier = 'sfw', updated_at = ?"
                " where id = ?",
                (utcnow(), user_id),
            )
            record_in(conn, actor_id=actor_id, action="user.reset_age", target_type="user", target_id=user_id)

        await self.db.write(run)

    async def record_login(self, user_id: str) -> None:
        await self.db.execute_write("update users set last_login_at = ? where id = ?", (utcnow(), user_id))

    async def preferences(self, user_id: str) -> Preferences | None:
        columns = ", ".join(PREFERENCE_COLUMNS)
        row = await self.db.fetchone(
            f"select {columns}, updated_at from user_preferences where user_id = ?", (user_id,)
        )
        return msgspec.convert(row, Preferences, strict=False) if row else None

    async def update_preferences(self, user_id: str, changes: Mapping[str, Any]) -> None:
        columns = [name for name in PREFERENCE_COLUMNS if name in changes]
        if not columns:
            return
        assignments = ", ".join(f"{name} = ?" for name in columns)
        values = [int(v) if isinstance(v, bool) else v for v in (changes[name] for name in columns)]
        await self.db.execute_write(
            f"update user_preferences set {assignments}, updated_at = ? where user_id = ?",
            (*values, utcnow(), user_id),
        )

    # -- administration (each change is audit-logged in the same transaction) ----------------------

    async def set_role(self, user_id: str, role: str, *, actor_id: str | None = None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("update users set role = ?, updated_at = ? where id = ?", (role, utcnow(), user_id))
            record_in(
                conn,
                actor_id=actor_id,
                action="user.set_role",
                target_type="user",
                target_id=user_id,
                details={"role": role},
            )

        await self.db.write(run)

    async def set_tier(self, user_id: str, tier: str, *, actor_id: str | None = None) -> None:
        """An admin-granted plan: it replaces earlier default/admin plans (payment providers' stay)."""

        def run(conn: sqlite3.Connection) -> None:
            billing_store.grant_tier_in(conn, user_id, tier)
            record_in(
                conn,
                actor_id=actor_id,
                action="user.set_tier",
                target_type="user",
                target_id=user_id,
                details={"tier": tier},
            )

        await self.db.write(run)


def set_active_in(conn: sqlite3.Connection, user_id: str, active: bool) -> None:
    """Disable or re-enable an account (the accounts capability also signs a disabled one out)."""
    conn.execute("update users set is_active = ?, updated_at = ? where id = ?", (int(active), utcnow(), user_id))


def set_password_hash_in(conn: sqlite3.Connection, user_id: str, password_hash: str) -> None:
    """The account's new password hash (auth hashes it and signs other sessions out in the same write)."""
    conn.execute("update users set password_hash = ?, updated_at = ? where id = ?", (password_hash, utcnow(), user_id))


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> int:
    """The account row; its preferences, credit balance and ledger go with it (foreign-key cascades)."""
    return conn.execute("delete from users where id = ?", (user_id,)).rowcount
