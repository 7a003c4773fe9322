"""SQL for browser sessions and refresh tokens (table auth_sessions), password resets and linked identities.

Only hashes of tokens are stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utc_in, utcnow
from bostonia.users.store import set_password_hash_in

SessionKind = Literal["browser", "refresh"]


class Rotation(msgspec.Struct, frozen=True):
    """The outcome of presenting a refresh token."""

    status: Literal["rotated", "reused", "invalid"]
    user_id: str | None = None
    family_id: str | None = None
    session_id: str | None = None


def _insert_session(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    kind: SessionKind,
    token_hash: str,
    lifetime: timedelta,
    family_id: str | None,
    user_agent: str | None,
    ip: str | None,
) -> str:
    session_id = new_id()
    conn.execute(
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


def set_password_in(
    conn: sqlite3.Connection, user_id: str, password_hash: str, *, keep_family: str | None = None
) -> None:
    """A new password signs out every session of the user (but `keep_family`, the one changing it)."""
    set_password_hash_in(conn, user_id, password_hash)
    revoke_user_sessions(conn, user_id, keep_family=keep_family)


def revoke_user_sessions(conn: sqlite3.Connection, user_id: str, *, keep_family: str | None = None) -> int:
    """Revoke every session and refresh token of a user (inside the caller's transaction)."""
    return conn.execute(
        "update auth_sessions set revoked_at = ? where user_id = ? and revoked_at is null and family_id is not ?",
        (utcnow(), user_id, keep_family),
    ).rowcount


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """A deleted account's sign-ins: sessions and refresh tokens, linked providers, reset links."""
    return {
        "sessions": conn.execute("delete from auth_sessions where user_id = ?", (user_id,)).rowcount,
        "linked_providers": conn.execute("delete from auth_identities where user_id = ?", (user_id,)).rowcount,
        "reset_links": conn.execute("delete from password_resets where user_id = ?", (user_id,)).rowcount,
        "passkeys": conn.execute("delete from auth_passkeys where user_id = ?", (user_id,)).rowcount,
    }


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_password(self, user_id: str, password_hash: str, *, keep_family: str | None = None) -> None:
        """Change the password and sign out every other session, in one transaction."""
        await self.db.write(lambda conn: set_password_in(conn, user_id, password_hash, keep_family=keep_family))

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
        """A new session row; returns its id (which is also its family id unless one is given)."""
        return await self.db.write(
            lambda conn: _insert_session(
                conn,
                user_id=user_id,
                kind=kind,
                token_hash=token_hash,
                lifetime=lifetime,
                family_id=family_id,
                user_agent=user_agent,
                ip=ip,
            )
        )

    async def active_user_id(self, kind: SessionKind, token_hash: str) -> str | None:
        """The user of an unrevoked, unexpired session with this token hash."""
        return await self.db.fetchval(
            "select user_id from auth_sessions where token_hash = ? and kind = ?"
            " and revoked_at is null and expires_at > ?",
            (token_hash, kind, utcnow()),
        )

    async def family_active(self, family_id: str, user_id: str) -> bool:
        """Whether a sign-in (a refresh-token family or a browser session) of this user is still live."""
        return bool(
            await self.db.fetchval(
                "select exists(select 1 from auth_sessions where family_id = ? and user_id = ?"
                " and revoked_at is null and expires_at > ?)",
                (family_id, user_id, utcnow()),
            )
        )

    async def family_of(self, kind: SessionKind, token_hash: str) -> str | None:
        return await self.db.fetchval(
            "select family_id from auth_sessions where token_hash = ? and kind = ?", (token_hash, kind)
        )

    async def rotate(self, token_hash: str, new_token_hash: str, lifetime: timedelta) -> Rotation:
        """Exchange a refresh token for a new one in the same family, in one transaction.

        A token that was already exchanged (or revoked) means it leaked or was replayed: the whole
        family is revoked, so whoever holds its newest token is signed out as well.
        """

        def run(conn: sqlite3.Connection) -> Rotation:
            row = conn.execute(
                "select id, user_id, family_id, expires_at, revoked_at, replaced_by from auth_sessions"
                " where token_hash = ? and kind = 'refresh'",
                (token_hash,),
            ).fetchone()
            if row is None:
                return Rotation("invalid")
            now = utcnow()
            if row["revoked_at"] is not None or row["replaced_by"] is not None:
                conn.execute(
                    "update auth_sessions set revoked_at = ? where family_id = ? and revoked_at is null",
                    (now, row["family_id"]),
                )
                return Rotation("reused", user_id=row["user_id"], family_id=row["family_id"])
            if row["expires_at"] <= now:
                return Rotation("invalid")
            new_session = _insert_session(
                conn,
                user_id=row["user_id"],
                kind="refresh",
                token_hash=new_token_hash,
                lifetime=lifetime,
                family_id=row["family_id"],
                user_agent=None,
                ip=None,
            )
            conn.execute(
                "update auth_sessions set revoked_at = ?, replaced_by = ?, last_used_at = ? where id = ?",
                (now, new_session, now, row["id"]),
            )
            return Rotation("rotated", user_id=row["user_id"], family_id=row["family_id"], session_id=new_session)

        return await self.db.write(run)

    async def revoke(self, token_hash: str) -> None:
        await self.db.execute_write(
            "update auth_sessions set revoked_at = ? where token_hash = ? and revoked_at is null",
            (utcnow(), token_hash),
        )

    async def revoke_family(self, family_id: str) -> int:
        return await self.db.execute_write(
            "update auth_sessions set revoked_at = ? where family_id = ? and revoked_at is null",
            (utcnow(), family_id),
        )

    async def purge_expired(self) -> dict[str, int]:
        return await self.db.write(lambda conn: purge_expired(conn, utcnow()))


def purge_expired(conn: sqlite3.Connection, now: str) -> dict[str, int]:
    """Forget sessions, refresh tokens and reset tokens past their expiry: they can never be accepted
    again, so keeping them only grows the table. (A revoked refresh token that has not expired stays:
    its reuse must still be recognised and revoke its family.)"""
    return {
        "sessions": conn.execute("delete from auth_sessions where expires_at <= ?", (now,)).rowcount,
        "password_resets": conn.execute("delete from password_resets where expires_at <= ?", (now,)).rowcount,
    }


class PasswordResetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: str, token_hash: str, lifetime: timedelta) -> str:
        expires_at = utc_in(lifetime)
        await self.db.execute_write(
            "insert into password_resets (id, user_id, token_hash, expires_at, created_at) values (?, ?, ?, ?, ?)",
            (new_id(), user_id, token_hash, expires_at, utcnow()),
        )
        return expires_at

    async def consume(self, token_hash: str, password_hash: str) -> str | None:
        """Set the new password for the token's user, spend every open reset token of that user and
        revoke all their sessions, in one transaction. Returns the user id, or None for a token that is
        unknown, used or expired."""

        def run(conn: sqlite3.Connection) -> str | None:
            now = utcnow()
            row = conn.execute(
                "select r.user_id from password_resets r join users u on u.id = r.user_id"
                " where r.token_hash = ? and r.used_at is null and r.expires_at > ? and u.is_active = 1",
                (token_hash, now),
            ).fetchone()
            if row is None:
                return None
            user_id = str(row["user_id"])
            conn.execute("update password_resets set used_at = ? where user_id = ? and used_at is null", (now, user_id))
            set_password_in(conn, user_id, password_hash)
            return user_id

        return await self.db.write(run)


class IdentityStore:
    """Accounts at external (OAuth/OIDC) providers linked to local users."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def user_id_for(self, provider: str, subject: str) -> str | None:
        return await self.db.fetchval(
            "select user_id from auth_identities where provider = ? and subject = ?", (provider, subject)
        )

    async def link(self, user_id: str, provider: str, subject: str, email: str | None) -> None:
        await self.db.execute_write(
            "insert into auth_identities (id, user_id, provider, subject, email, created_at) values (?, ?, ?, ?, ?, ?)",
            (new_id(), user_id, provider, subject, email, utcnow()),
        )


class StoredPasskey(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    credential_id: str
    public_key: bytes
    sign_count: int
    name: str
    created_at: str
    last_used_at: str | None


class PasskeyStore:
    """WebAuthn credentials of accounts (auth_passkeys)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, *, user_id: str, credential_id: str, public_key: bytes, sign_count: int, name: str) -> str:
        passkey_id = new_id()
        await self.db.execute_write(
            "insert into auth_passkeys (id, user_id, credential_id, public_key, sign_count, name, created_at)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            (passkey_id, user_id, credential_id, public_key, sign_count, name, utcnow()),
        )
        return passkey_id

    async def for_user(self, user_id: str) -> list[StoredPasskey]:
        rows = await self.db.fetchall(
            "select * from auth_passkeys where user_id = ? order by created_at, id", (user_id,)
        )
        return [msgspec.convert(row, StoredPasskey, strict=False) for row in rows]

    async def by_credential(self, credential_id: str) -> StoredPasskey | None:
        row = await self.db.fetchone("select * from auth_passkeys where credential_id = ?", (credential_id,))
        return msgspec.convert(row, StoredPasskey, strict=False) if row else None

    async def used(self, passkey_id: str, sign_count: int) -> None:
        await self.db.execute_write(
            "update auth_passkeys set sign_count = ?, last_used_at = ? where id = ?", (sign_count, utcnow(), passkey_id)
        )

    async def delete(self, user_id: str, passkey_id: str) -> bool:
        deleted = await self.db.execute_write(
            "delete from auth_passkeys where id = ? and user_id = ?", (passkey_id, user_id)
        )
        return bool(deleted)
