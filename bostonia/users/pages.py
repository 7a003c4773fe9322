"""Account pages: profile (password, age, deletion), preferences, favorites, collections."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from bostonia.errors import BostoniaError, InvalidInput
from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.deps import Auth, Characters, CurrentUser, Library, Users, Viewer
from bostonia.http.errors import status_for
from bostonia.identity import CONTENT_TIERS, THEMES, User
from bostonia.ui.forms import Form
from bostonia.users.schemas import (
    AgeVerification,
    CollectionCreate,
    CollectionUpdate,
    PreferencesUpdate,
    ProfileUpdate,
)

S = TypeVar("S", bound=msgspec.Struct)
PREFERENCE_SWITCHES = ("notifications_enabled", "memory_visible", "typing_indicators", "voice_autoplay")
NOTICES = {
    "saved": "Saved.",
    "password": "Password changed. Your other sessions were signed out.",
    "age": "Date of birth recorded.",
}


def parse_form(data: dict[str, str], schema: type[S], fields: tuple[str, ...]) -> S:
    """Read the named form fields into a Struct, turning its validation errors into clear 422s."""
    try:
        return msgspec.convert({k: data[k] for k in fields if k in data}, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid form input: {exc}") from None


class UserPages(Controller):
    include_in_schema = False

    # -- account -------------------------------------------------------------------------------

    async def _account(
        self, user: User, users: Users, *, error: str | None = None, notice: str | None = None, status: int = 200
    ) -> Template:
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

    @get("/account")
    async def account_page(self, user: CurrentUser, users: Users, notice: FromQuery[str | None] = None) -> Template:
        return await self._account(user, users, notice=notice)

    @post("/account")
    async def update_account(self, data: Form, user: CurrentUser, users: Users) -> Response[Any]:
        try:
            update = parse_form(data, ProfileUpdate, ("display_name", "bio", "content_tier"))
            await users.update_profile(user, update)
        except BostoniaError as exc:
            return await self._account(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=saved", status_code=303)

    @post("/account/password")
    async def change_password(
        self, data: Form, user: CurrentUser, users: Users, auth: Auth, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        keep = await auth.browser_session_family(request.cookies.get(SESSION_COOKIE, ""))
        try:
            await auth.change_password(
                user, data.get("current_password", ""), data.get("new_password", ""), keep_session=keep
            )
        except BostoniaError as exc:
            return await self._account(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=password", status_code=303)

    @post("/account/verify-age")
    async def verify_age(self, data: Form, user: CurrentUser, users: Users) -> Response[Any]:
        try:
            await users.verify_age(user, parse_form(data, AgeVerification, ("date_of_birth", "content_tier")))
        except BostoniaError as exc:
            return await self._account(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=age", status_code=303)

    @post("/account/delete")
    async def delete_account(self, data: Form, user: CurrentUser, users: Users, auth: Auth) -> Response[Any]:
        try:
            profile = await users.profile(user)
            if profile.has_password and not await auth.password_matches(user, data.get("password", "")):
                raise InvalidInput("the password is not correct", code="wrong_password")
            if data.get("confirm") != "delete":
                raise InvalidInput('type "delete" to confirm', code="not_confirmed")
            await users.delete_account(user, actor=user)
        except BostoniaError as exc:
            return await self._account(user, users, error=exc.message, status=status_for(exc))
        response = Redirect("/login?notice=account_deleted", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- preferences -----------------------------------------------------------------------------

    @get("/account/preferences")
    async def preferences_page(self, user: CurrentUser, users: Users) -> Template:
        return Template(
            "preferences.html",
            context={"user": user, "preferences": await users.preferences(user), "themes": THEMES, "error": None},
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
            if request.headers.get("hx-request"):
                raise
            return Template(
                "preferences.html",
                status_code=status_for(exc),
                context={
                    "user": user,
                    "preferences": await users.preferences(user),
                    "themes": THEMES,
                    "error": exc.message,
                },
            )
        if request.headers.get("hx-request"):
            return Template("_saved.html", context={"preferences": preferences})
        return Redirect("/account/preferences", status_code=303)

    # -- favorites -------------------------------------------------------------------------------

    @get("/favorites")
    async def favorites_page(self, user: CurrentUser, library: Library) -> Template:
        return Template("favorites.html", context={"user": user, "characters": await library.favorites(user)})

    @post("/favorites/{character_id:str}/remove")
    async def remove_favorite(self, character_id: FromPath[str], user: CurrentUser, library: Library) -> Redirect:
        await library.unfavorite(user, character_id)
        return Redirect("/favorites", status_code=303)

    # -- collections -----------------------------------------------------------------------------

    @get("/collections")
    async def collections_page(self, user: CurrentUser, library: Library) -> Template:
        return Template(
            "collections.html", context={"user": user, "collections": await library.collections(user), "error": None}
        )

    @post("/collections")
    async def create_collection(self, data: Form, user: CurrentUser, library: Library) -> Response[Any]:
        fields = {**data, "is_public": "true" if data.get("is_public") else "false"}
        try:
            collection = await library.create_collection(
                user, parse_form(fields, CollectionCreate, ("name", "description", "is_public"))
            )
        except BostoniaError as exc:
            return Template(
                "collections.html",
                status_code=status_for(exc),
                context={"user": user, "collections": await library.collections(user), "error": exc.message},
            )
        return Redirect(f"/collections/{collection.id}", status_code=303)

    @get("/collections/{collection_id:str}")
    async def collection_page(
        self, collection_id: FromPath[str], viewer: Viewer, library: Library, characters: Characters
    ) -> Template:
        """Anyone may see a public collection; its owner also gets the forms to manage it."""
        detail = await library.collection(viewer, collection_id)
        owner = viewer is not None and viewer.id == detail.collection.user_id
        addable = []
        if owner:
            present = {c.id for c in detail.characters}
            addable = [c for c in await characters.list(viewer) if c.id not in present]
        return Template(
            "collection.html",
            context={"user": viewer, "detail": detail, "owner": owner, "addable": addable, "error": None},
        )

    @post("/collections/{collection_id:str}")
    async def update_collection(
        self, collection_id: FromPath[str], data: Form, user: CurrentUser, library: Library
    ) -> Redirect:
        fields = {**data, "is_public": "true" if data.get("is_public") else "false"}
        update = parse_form(fields, CollectionUpdate, ("name", "description", "is_public"))
        await library.update_collection(user, collection_id, update)
        return Redirect(f"/collections/{collection_id}", status_code=303)

    @post("/collections/{collection_id:str}/delete")
    async def delete_collection(self, collection_id: FromPath[str], user: CurrentUser, library: Library) -> Redirect:
        await library.delete_collection(user, collection_id)
        return Redirect("/collections", status_code=303)

    @post("/collections/{collection_id:str}/characters")
    async def add_to_collection(
        self, collection_id: FromPath[str], data: Form, user: CurrentUser, library: Library
    ) -> Redirect:
        await library.add_character(user, collection_id, data.get("character_id", ""))
        return Redirect(f"/collections/{collection_id}", status_code=303)

    @post("/collections/{collection_id:str}/characters/{character_id:str}/remove")
    async def remove_from_collection(
        self, collection_id: FromPath[str], character_id: FromPath[str], user: CurrentUser, library: Library
    ) -> Redirect:
        await library.remove_character(user, collection_id, character_id)
        return Redirect(f"/collections/{collection_id}", status_code=303)
