"""Account pages: profile, age verification, preferences. (The password form posts to auth, deletion to
accounts; favorites and collections are the library's.)"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from bostonia.errors import BostoniaError
from bostonia.http.deps import CurrentUser
from bostonia.http.errors import status_for
from bostonia.identity import CONTENT_TIERS, THEMES, User
from bostonia.ui import i18n
from bostonia.ui.forms import Form, parse_form
from bostonia.users.deps import Users
from bostonia.users.schemas import AgeVerification, PreferencesUpdate, ProfileUpdate
from bostonia.users.service import UserService

PREFERENCE_SWITCHES = ("notifications_enabled", "memory_visible", "typing_indicators", "voice_autoplay")
NOTICES = {
    "saved": "Saved.",
    "password": "Password changed. Your other sessions were signed out.",
    "age": "Date of birth recorded.",
}


async def account_page(
    user: User, users: UserService, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> Template:
    """The account page; other capabilities' account forms (password, deletion) re-render it with their error."""
    return Template(
        "account.html",
        status_code=status,
        context={
            "user": user,
            "profile": await users.profile(user),
            "content_tiers": CONTENT_TIERS,
            "error": error,
            "notice": NOTICES.get(notice or ""),
        },
    )


class UserPages(Controller):
    include_in_schema = False

    # -- account -------------------------------------------------------------------------------

    @get("/account")
    async def account_page(self, user: CurrentUser, users: Users, notice: FromQuery[str | None] = None) -> Template:
        return await account_page(user, users, notice=notice)

    @post("/account")
    async def update_account(self, data: Form, user: CurrentUser, users: Users) -> Response[Any]:
        try:
            update = parse_form(data, ProfileUpdate, ("display_name", "bio", "content_tier"))
            await users.update_profile(user, update)
        except BostoniaError as exc:
            return await account_page(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=saved", status_code=303)

    @post("/account/verify-age")
    async def verify_age(self, data: Form, user: CurrentUser, users: Users) -> Response[Any]:
        try:
            await users.verify_age(user, parse_form(data, AgeVerification, ("date_of_birth", "content_tier")))
        except BostoniaError as exc:
            return await account_page(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=age", status_code=303)

    # -- preferences -----------------------------------------------------------------------------

    @get("/account/preferences")
    async def preferences_page(self, user: CurrentUser, users: Users) -> Template:
        return Template(
            "preferences.html",
            context={
                "user": user,
                "preferences": await users.preferences(user),
                "themes": THEMES,
                "languages": i18n.available_languages(),
                "error": None,
            },
        )

    @post("/account/preferences")
    async def save_preferences(
        self, data: Form, user: CurrentUser, users: Users, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        """A whole form (unchecked boxes are absent, so off); HTMX autosave gets a status line back."""
        fields = dict(data)
        for switch in PREFERENCE_SWITCHES:
            fields[switch] = "true" if data.get(switch) in ("on", "true", "1") else "false"
        try:
            update = parse_form(fields, PreferencesUpdate, ("theme", "language", *PREFERENCE_SWITCHES))
            preferences = await users.update_preferences(user, update)
        except BostoniaError as exc:
            if request.headers.get("hx-request"):  # the status line says what was not saved, and why
                return Template("_saved.html", context={"error": exc.message})
            return Template(
                "preferences.html",
                status_code=status_for(exc),
                context={
                    "user": user,
                    "preferences": await users.preferences(user),
                    "themes": THEMES,
                    "languages": i18n.available_languages(),
                    "error": exc.message,
                },
            )
        if request.headers.get("hx-request"):
            return Template("_saved.html", context={"preferences": preferences})
        return Redirect("/account/preferences", status_code=303)
