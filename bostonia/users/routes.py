"""The signed-in user's own account over JSON: profile, password, preferences, favorites, collections;
and public collections for anyone."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from bostonia.auth.schemas import Notice
from bostonia.characters.schemas import CharacterList
from bostonia.errors import InvalidInput
from bostonia.http.auth import SESSION_COOKIE, bearer_token
from bostonia.http.bodies import optional_body
from bostonia.http.deps import Auth, CurrentUser, Library, Users, Viewer
from bostonia.users.schemas import (
    AccountDeletion,
    CharacterRef,
    Collection,
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
    FavoriteState,
    PasswordChange,
    Preferences,
    PreferencesUpdate,
    Profile,
    ProfileUpdate,
)

FAVORITE_PARTIAL = "_favorite_button.html"


async def character_ref(request: Request[Any, Any, Any]) -> CharacterRef:
    """`{"character_id": ...}` as JSON, or as a form field (an HTMX button with `hx-vals`)."""
    content_type, _ = request.content_type
    raw: Any
    try:
        if content_type in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
            raw = dict(await request.form())
            raw.pop("_csrf_token", None)
        else:
            raw = msgspec.json.decode(await request.body())
        return msgspec.convert(raw, CharacterRef)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValidationException(f"invalid request: {exc}") from None


def favorite_response(request: Request[Any, Any, Any], state: FavoriteState, status: int) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Template(FAVORITE_PARTIAL, context={"state": state}, status_code=200)
    if status == 204:
        return Response(None, status_code=204)
    return Response(state, status_code=status)


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
        self, user: CurrentUser, users: Users, auth: Auth, request: Request[Any, Any, Any]
    ) -> Response[None]:
        """Delete your account and everything it owns (body `{"password": ...}` when it has one)."""
        data = await optional_body(request, AccountDeletion)
        if (await users.profile(user)).has_password and not await auth.password_matches(user, data.password):
            raise InvalidInput("the password is not correct", code="wrong_password", details={"field": "password"})
        await users.delete_account(user, actor=user)
        response: Response[None] = Response(None, status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @post("/password", status_code=200)
    async def change_password(
        self, data: JSONBody[PasswordChange], user: CurrentUser, auth: Auth, request: Request[Any, Any, Any]
    ) -> Notice:
        """Change the password; every other session of the account is signed out, this one stays."""
        if token := bearer_token(request):
            keep = auth.session_of_access_token(token)
        else:
            keep = await auth.browser_session_family(request.cookies.get(SESSION_COOKIE, ""))
        await auth.change_password(user, data.current_password, data.new_password, keep_session=keep)
        return Notice(message="password changed; other sessions were signed out")

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

    # -- favorites ---------------------------------------------------------------------------------

    @get("/favorites")
    async def list_favorites(self, user: CurrentUser, library: Library) -> CharacterList:
        """Favorite characters the user can still see, newest first."""
        return CharacterList(items=await library.favorites(user))

    @post("/favorites")
    async def add_favorite(self, user: CurrentUser, library: Library, request: Request[Any, Any, Any]) -> Response[Any]:
        """Favorite a character (`{"character_id": ...}`, JSON or form). HTMX gets the button back."""
        ref = await character_ref(request)
        return favorite_response(request, await library.favorite(user, ref.character_id), 201)

    @delete("/favorites/{character_id:str}", status_code=200)
    async def remove_favorite(
        self, character_id: FromPath[str], user: CurrentUser, library: Library, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        return favorite_response(request, await library.unfavorite(user, character_id), 204)

    # -- collections -------------------------------------------------------------------------------

    @get("/collections")
    async def list_collections(self, user: CurrentUser, library: Library) -> CollectionList:
        return CollectionList(items=await library.collections(user))

    @post("/collections", status_code=201)
    async def create_collection(
        self, data: JSONBody[CollectionCreate], user: CurrentUser, library: Library
    ) -> Collection:
        return await library.create_collection(user, data)

    @get("/collections/{collection_id:str}")
    async def get_collection(
        self, collection_id: FromPath[str], user: CurrentUser, library: Library
    ) -> CollectionDetail:
        return await library.own_collection(user, collection_id)

    @patch("/collections/{collection_id:str}")
    async def update_collection(
        self, collection_id: FromPath[str], data: JSONBody[CollectionUpdate], user: CurrentUser, library: Library
    ) -> Collection:
        """Rename, describe, or make public/private (`is_public`)."""
        return await library.update_collection(user, collection_id, data)

    @delete("/collections/{collection_id:str}", status_code=204)
    async def delete_collection(self, collection_id: FromPath[str], user: CurrentUser, library: Library) -> None:
        await library.delete_collection(user, collection_id)

    @post("/collections/{collection_id:str}/characters", status_code=201)
    async def add_to_collection(
        self, collection_id: FromPath[str], data: JSONBody[CharacterRef], user: CurrentUser, library: Library
    ) -> CollectionDetail:
        return await library.add_character(user, collection_id, data.character_id)

    @delete("/collections/{collection_id:str}/characters/{character_id:str}", status_code=204)
    async def remove_from_collection(
        self, collection_id: FromPath[str], character_id: FromPath[str], user: CurrentUser, library: Library
    ) -> None:
        await library.remove_character(user, collection_id, character_id)


class CollectionController(Controller):
    path = "/api/v1/collections"
    tags = ["users"]

    @get("/{collection_id:str}")
    async def get_collection(self, collection_id: FromPath[str], viewer: Viewer, library: Library) -> CollectionDetail:
        """A public collection (anyone) or your own; only characters you may see are listed."""
        return await library.collection(viewer, collection_id)
