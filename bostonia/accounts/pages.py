"""The account page's deletion form."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, post
from litestar.response import Redirect

from bostonia.accounts.deps import Accounts
from bostonia.errors import BostoniaError, InvalidInput
from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.deps import CurrentUser
from bostonia.http.errors import status_for
from bostonia.ui.forms import Form
from bostonia.users.deps import Users
from bostonia.users.pages import account_page


class AccountDeletionPages(Controller):
    include_in_schema = False

    @post("/account/delete")
    async def delete_account(self, data: Form, user: CurrentUser, users: Users, accounts: Accounts) -> Response[Any]:
        try:
            if data.get("confirm") != "delete":
                raise InvalidInput('type "delete" to confirm', code="not_confirmed")
            await accounts.delete_own(user, data.get("password", ""))
        except BostoniaError as exc:
            return await account_page(user, users, error=exc.message, status=status_for(exc))
        response = Redirect("/login?notice=account_deleted", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
