"""Library pages: favorites and collections (a public collection is readable by anyone)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from bostonia.characters.deps import Characters
from bostonia.errors import BostoniaError
from bostonia.http.deps import CurrentUser, Viewer
from bostonia.http.errors import status_for
from bostonia.identity import User
from bostonia.library.deps import Library
from bostonia.library.schemas import CollectionCreate, CollectionUpdate
from bostonia.library.service import LibraryService
from bostonia.ui.forms import Form, parse_form


async def _picker(user: User, library: LibraryService, character_id: str, added: str = "") -> dict[str, Any]:
    return {"user": user, "collections": await library.collections(user), "character_id": character_id, "added": added}


class LibraryPages(Controller):
    include_in_schema = False

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

    @get("/characters/{character_id:str}/collections")
    async def collection_picker(self, character_id: FromPath[str], user: CurrentUser, library: Library) -> Template:
        """The character page's "Add to collection" (an HTMX partial): the viewer's collections."""
        character = await library.characters.get(user, character_id)
        return Template("_collection_picker.html", context=await _picker(user, library, character.id))

    @post("/collections/{collection_id:str}/characters")
    async def add_to_collection(
        self,
        collection_id: FromPath[str],
        data: Form,
        user: CurrentUser,
        library: Library,
        request: Request[Any, Any, Any],
    ) -> Template | Redirect:
        detail = await library.add_character(user, collection_id, data.get("character_id", ""))
        if request.headers.get("hx-request"):  # from the character page: say where it went, stay there
            context = await _picker(user, library, data.get("character_id", ""), added=detail.collection.name)
            return Template("_collection_picker.html", context=context)
        return Redirect(f"/collections/{collection_id}", status_code=303)

    @post("/collections/{collection_id:str}/characters/{character_id:str}/remove")
    async def remove_from_collection(
        self, collection_id: FromPath[str], character_id: FromPath[str], user: CurrentUser, library: Library
    ) -> Redirect:
        await library.remove_character(user, collection_id, character_id)
        return Redirect(f"/collections/{collection_id}", status_code=303)
