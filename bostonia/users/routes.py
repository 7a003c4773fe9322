"""The signed-in user's own account over JSON: profile, preferences, deletion. (The password is auth's;
favorites and collections are the library's.)"""

from __future__ import annotations

from typing import Annotated, Any, Protocol, runtime_checkable

import msgspec
from litestar import Controller, Request, Response, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody

from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.bodies import optional_body
from bostonia.http.deps import CurrentUser
from bostonia.identity import User
from bostonia.users.deps import Users
from bostonia.users.schemas import Preferences, PreferencesUpdate, Profile, ProfileUpdate


class AccountDeletion(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Required when the account has a password.
    password: Annotated[str, msgspec.Meta(max_length=1024)] = ""


@runtime_checkable
class OwnAccountDeletion(Protocol):
    """Deleting an account reaches every capability: the accounts capability (above this one) provides
    it as `accounts`; the route lives here because `/users/me` is one path."""

    async def delete_own(self, user: User, password: str) -> dict[str, int]: ...


class MeController(Controller):
    path = "/api/v1/users/me"
    tags = ["users"]

    @get("/")
    async def get_me(self, user: CurrentUser, users: Users) -> Profile:
        return await users.profile(user)

    @patch("/")
    async def update_me(self, data: JSONBody[ProfileUpdate], user: CurrentUser, users: Users) -> Profile:
        """Change `display_name`, `bio`, or `content_tier` (above "sfw" needs a verified age)."""
        return await users.update_profile(user, data)

    @delete("/", status_code=204)
    async def delete_me(
        self, user: CurrentUser, accounts: NamedDependency[OwnAccountDeletion], request: Request[Any, Any, Any]
    ) -> Response[None]:
        """Delete your account and everything it owns (body `{"password": ...}` when it has one)."""
        data = await optional_body(request, AccountDeletion)
        await accounts.delete_own(user, data.password)
        response: Response[None] = Response(None, status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/preferences")
    async def get_preferences(self, user: CurrentUser, users: Users) -> Preferences:
        return await users.preferences(user)

    @patch("/preferences")
    async def update_preferences(
        self, data: JSONBody[PreferencesUpdate], user: CurrentUser, users: Users
    ) -> Preferences:
        """Change `theme` (light, dark, system), `language`, `notifications_enabled`, `memory_visible`,
        `typing_indicators`."""
        return await users.update_preferences(user, data)
