"""A user's library over JSON: favorites and collections of the signed-in user, and public collections
for anyone."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from bostonia.characters.schemas import CharacterList, FavoriteState
from bostonia.http.deps import CurrentUser, Viewer
from bostonia.json_limits import check_json_depth
from bostonia.library.deps import Library
from bostonia.library.schemas import (
    CharacterRef,
    Collection,
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionUpdate,
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
            body = await request.body()
            check_json_depth(body)
            raw = msgspec.json.decode(body)
        return msgspec.convert(raw, CharacterRef)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValidationException(f"invalid request: {exc}") from None


def favorite_response(request: Request[Any, Any, Any], state: FavoriteState, status: int) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Template(FAVORITE_PARTIAL, context={"state": state}, status_code=200)
    if status == 204:
        return Response(None, status_code=204)
    return Response(state, status_code=status)


class MyLibraryController(Controller):
    path = "/api/v1/users/me"
    tags = ["users"]

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
