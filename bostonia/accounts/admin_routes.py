"""Administration over JSON (admins only): accounts, roles, tiers, disabling, deletion, reset links, and
the audit log. Conversations and memories are not here: admins cannot read them (see bostonia/users/privacy.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from bostonia.accounts.deps import Accounts
from bostonia.accounts.service import DeleteMode
from bostonia.audit.schemas import AuditList
from bostonia.auth.deps import Recovery
from bostonia.auth.schemas import ResetLink
from bostonia.http.auth import public_base_url
from bostonia.http.deps import Audit, Config, CurrentUser
from bostonia.identity import User, require_admin
from bostonia.users.deps import Users
from bostonia.users.schemas import AdminUserUpdate, Profile, UserList


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]

    @get("/users")
    async def list_users(self, user: CurrentUser, users: Users) -> UserList:
        return UserList(items=await users.list(actor=user))

    @get("/users/{user_id:str}")
    async def show_user(self, user_id: FromPath[str], user: CurrentUser, users: Users) -> Profile:
        return await users.show(user_id, actor=user)

    @patch("/users/{user_id:str}")
    async def update_user(
        self,
        user_id: FromPath[str],
        data: JSONBody[AdminUserUpdate],
        user: CurrentUser,
        users: Users,
        accounts: Accounts,
    ) -> User:
        """Set `role` (user, creator, admin), `tier` (free, plus, pro, creator) and/or `is_active`;
        `reset_age_verification: true` forgets a recorded date of birth."""
        target = await users.find(user_id, actor=user)
        if data.role is not msgspec.UNSET:
            target = await users.set_role(target.id, data.role, actor=user)
        if data.tier is not msgspec.UNSET:
            target = await users.set_tier(target.id, data.tier, actor=user)
        if data.is_active is not msgspec.UNSET:
            target = await accounts.set_active(target.id, data.is_active, actor=user)
        if data.reset_age_verification:
            target = await users.reset_age(target.id, actor=user)
        return target

    @delete("/users/{user_id:str}", status_code=204)
    async def delete_user(
        self, user_id: FromPath[str], user: CurrentUser, accounts: Accounts, mode: FromQuery[DeleteMode | None] = None
    ) -> None:
        """Delete the account and everything it owns (`?mode=delete|anonymise`, default from config)."""
        await accounts.delete(user_id, actor=user, mode=mode)

    @post("/users/{user_id:str}/reset-link", status_code=201)
    async def reset_link(
        self,
        user_id: FromPath[str],
        user: CurrentUser,
        users: Users,
        recovery: Recovery,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> ResetLink:
        """A single-use password-reset link to hand to the user."""
        target = await users.find(user_id, actor=user)
        return await recovery.admin_link(target, public_base_url(request, config.server.public_url), actor=user)

    @get("/audit")
    async def audit_log(
        self, user: CurrentUser, audit: Audit, action: FromQuery[str | None] = None, limit: FromQuery[int] = 200
    ) -> AuditList:
        require_admin(user)
        return AuditList(items=await audit.recent(limit=max(1, min(limit, 1000)), action=action))
