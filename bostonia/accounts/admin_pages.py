"""The admin's users page: every account, with role, tier, disable/enable, delete and reset link."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from bostonia.accounts.deps import Accounts
from bostonia.auth.deps import Recovery
from bostonia.auth.schemas import ResetLink
from bostonia.errors import BostoniaError, NotFound
from bostonia.http.auth import public_base_url
from bostonia.http.deps import Config, CurrentUser
from bostonia.http.errors import status_for
from bostonia.identity import ROLES, TIERS, User, require_admin
from bostonia.ui.forms import Form
from bostonia.users.deps import Users
from bostonia.users.service import UserService

ACTIONS = ("role", "tier", "disable", "enable", "delete", "reset-link")


async def users_page(
    user: User,
    users: UserService,
    *,
    error: str | None = None,
    reset: tuple[User, ResetLink] | None = None,
    status: int = 200,
) -> Template:
    return Template(
        "admin_users.html",
        status_code=status,
        context={
            "user": user,
            "accounts": await users.list(actor=user),
            "roles": ROLES,
            "tiers": TIERS,
            "error": error,
            "reset": reset,
        },
    )


class AdminPages(Controller):
    include_in_schema = False

    @get("/admin/users")
    async def admin_users(self, user: CurrentUser, users: Users) -> Template:
        require_admin(user)
        return await users_page(user, users)

    @post("/admin/users/{user_id:str}/{action:str}")
    async def admin_action(
        self,
        user_id: FromPath[str],
        action: FromPath[str],
        data: Form,
        user: CurrentUser,
        users: Users,
        accounts: Accounts,
        recovery: Recovery,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        require_admin(user)
        if action not in ACTIONS:
            raise NotFound(f"no admin action {action!r}")
        try:
            target = await users.find(user_id, actor=user)
            if action == "role":
                await users.set_role(target.id, data.get("role", ""), actor=user)
            elif action == "tier":
                await users.set_tier(target.id, data.get("tier", ""), actor=user)
            elif action in ("disable", "enable"):
                await accounts.set_active(target.id, action == "enable", actor=user)
            elif action == "delete":
                await accounts.delete(target.id, actor=user)
            else:
                link = await recovery.admin_link(target, public_base_url(request, config.server.public_url), actor=user)
                return await users_page(user, users, reset=(target, link))
        except BostoniaError as exc:
            return await users_page(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/admin/users", status_code=303)
