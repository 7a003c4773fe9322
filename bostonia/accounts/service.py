"""An account's life across capabilities: disabling signs it out everywhere; deleting removes what every
capability holds for it, each through its own `delete_owned_by(conn, user_id)`, in one transaction.

This package sits above the capabilities it reaches into (users, auth, characters, lore, chat, library,
personas, billing, creators, analytics), so none of them writes another's tables.
"""

from __future__ import annotations

from typing import Literal

from bostonia.analytics import store as analytics_store
from bostonia.audit.store import record_in
from bostonia.auth import store as auth_store
from bostonia.auth.service import AuthService
from bostonia.billing import store as billing_store
from bostonia.characters import store as character_store
from bostonia.chat import store as chat_store
from bostonia.config import PrivacyConfig
from bostonia.creators import store as creator_store
from bostonia.db import Database, sqlite3
from bostonia.errors import InvalidInput
from bostonia.identity import Actor, User, require_admin
from bostonia.library import store as library_store
from bostonia.lore import store as lore_store
from bostonia.personas import store as persona_store
from bostonia.users import store as user_store
from bostonia.users.service import UserService

DeleteMode = Literal["delete", "anonymise"]


class AccountService:
    def __init__(self, db: Database, users: UserService, auth: AuthService, privacy: PrivacyConfig) -> None:
        self.db = db
        self.users = users
        self.auth = auth
        self.privacy = privacy

    async def set_active(self, email_or_id: str, active: bool, *, actor: Actor) -> User:
        """Disable (signed out everywhere at once) or re-enable an account."""
        target = await self.users.find(email_or_id, actor=actor)
        if not active:
            await self.users.keep_an_admin(target)

        def run(conn: sqlite3.Connection) -> None:
            user_store.set_active_in(conn, target.id, active)
            if not active:
                auth_store.revoke_user_sessions(conn, target.id)
            record_in(
                conn,
                actor_id=actor.id,
                action="user.enable" if active else "user.disable",
                target_type="user",
                target_id=target.id,
            )

        await self.db.write(run)
        return await self.users.find(target.id, actor=actor)

    async def delete(self, email_or_id: str, *, actor: Actor, mode: DeleteMode | None = None) -> dict[str, int]:
        """An admin (or the operator) deletes an account, per `mode` or `[privacy] delete_mode`."""
        require_admin(actor)
        return await self._delete(await self.users.find(email_or_id, actor=actor), actor=actor, mode=mode)

    async def delete_own(self, user: User, password: str) -> dict[str, int]:
        """The signed-in user deletes their own account, confirming with their password if it has one."""
        if not await self.auth.password_matches_if_set(user, password):
            raise InvalidInput("the password is not correct", code="wrong_password", details={"field": "password"})
        return await self._delete(user, actor=user, mode=None)

    async def _delete(self, target: User, *, actor: Actor, mode: DeleteMode | None) -> dict[str, int]:
        await self.users.keep_an_admin(target)
        keep_listed = (mode or self.privacy.delete_mode) == "anonymise"

        def run(conn: sqlite3.Connection) -> dict[str, int]:
            # Characters before lore: a book stays with the character it is embedded in, if that stays.
            # Creators first: their greeting tests reference the characters and conversations deleted next.
            counts: dict[str, int] = creator_store.delete_owned_by(conn, target.id)
            counts["conversations"] = chat_store.delete_owned_by(conn, target.id)
            counts |= character_store.delete_owned_by(conn, target.id, keep_listed=keep_listed)
            counts["lorebooks"] = lore_store.delete_owned_by(conn, target.id)
            counts["personas"] = persona_store.delete_owned_by(conn, target.id)
            counts |= library_store.delete_owned_by(conn, target.id)
            counts |= auth_store.delete_owned_by(conn, target.id)
            counts |= billing_store.delete_owned_by(conn, target.id)
            counts["analytics_actors"] = analytics_store.delete_owned_by(conn, target.id)
            counts["users"] = user_store.delete_owned_by(conn, target.id)
            record_in(
                conn,
                actor_id=actor.id if actor.id != target.id else None,  # a self-deletion leaves no actor behind
                action="user.delete",
                target_type="user",
                target_id=target.id,
                details={"mode": "anonymise" if keep_listed else "delete"},
            )
            return counts

        return await self.db.write(run)
