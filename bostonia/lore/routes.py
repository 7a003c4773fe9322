"""Lorebooks over HTTP. Importing a file goes through `POST /api/v1/characters/import` (any card or book)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from bostonia.errors import InvalidInput
from bostonia.http.deps import CurrentUser
from bostonia.http.downloads import attachment
from bostonia.lore.deps import Lore
from bostonia.lore.schemas import (
    AppliedBookList,
    BookCreate,
    BookPatch,
    EntryFields,
    ExportFormat,
    LinkIn,
    LinkList,
    Lorebook,
    LorebookList,
    LoreEntry,
    LoreSettings,
    LoreSettingsPatch,
)


def link_in(kind: str, target_id: str | None = None) -> LinkIn:
    if kind not in ("global", "persona", "conversation"):
        raise InvalidInput(
            f"unknown attachment {kind!r}; use global, persona or conversation", details={"field": "scope"}
        )
    return LinkIn(scope=kind, target_id=target_id)  # type: ignore[arg-type]


class LorebookController(Controller):
    path = "/api/v1/lorebooks"
    tags = ["lorebooks"]

    @get("/")
    async def list_lorebooks(self, lore: Lore, user: CurrentUser) -> LorebookList:
        """The caller's lorebooks, standalone and embedded in their characters."""
        return LorebookList(items=await lore.list(user))

    @post("/", status_code=201)
    async def create_lorebook(self, data: JSONBody[BookCreate], lore: Lore, user: CurrentUser) -> Lorebook:
        """A new book, optionally with entries (each takes the World Info fields of `EntryFields`)."""
        return await lore.create(user, data)

    @get("/settings")
    async def get_settings(self, lore: Lore, user: CurrentUser) -> LoreSettings:
        """The caller's World Info activation settings (scan depth, budget, recursion, vectors, ...)."""
        return await lore.settings(user)

    @patch("/settings")
    async def update_settings(self, data: JSONBody[LoreSettingsPatch], lore: Lore, user: CurrentUser) -> LoreSettings:
        return await lore.update_settings(user, data)

    @get("/{book_id:str}")
    async def get_lorebook(self, book_id: FromPath[str], lore: Lore, user: CurrentUser) -> Lorebook:
        return await lore.get(user, book_id)

    @patch("/{book_id:str}")
    async def update_lorebook(
        self, book_id: FromPath[str], data: JSONBody[BookPatch], lore: Lore, user: CurrentUser
    ) -> Lorebook:
        return await lore.update(user, book_id, data)

    @get("/{book_id:str}/export")
    async def export_lorebook(
        self, book_id: FromPath[str], lore: Lore, user: CurrentUser, format: FromQuery[ExportFormat] = "world_info"
    ) -> Response[dict[str, Any]]:
        """SillyTavern World Info JSON (default) or `lorebook_v3`, as a download."""
        name, body = await lore.export(user, book_id, format)
        return Response(body, headers=attachment(name or "lorebook", "json"))

    @delete("/{book_id:str}", status_code=204)
    async def delete_lorebook(self, book_id: FromPath[str], lore: Lore, user: CurrentUser) -> None:
        await lore.delete(user, book_id)

    # -- entries ------------------------------------------------------------------------------------------

    @post("/{book_id:str}/entries", status_code=201)
    async def create_entry(
        self, book_id: FromPath[str], data: JSONBody[EntryFields], lore: Lore, user: CurrentUser
    ) -> LoreEntry:
        return await lore.add_entry(user, book_id, data)

    @get("/{book_id:str}/entries/{entry_id:str}")
    async def get_entry(
        self, book_id: FromPath[str], entry_id: FromPath[str], lore: Lore, user: CurrentUser
    ) -> LoreEntry:
        return await lore.entry(user, book_id, entry_id)

    @patch("/{book_id:str}/entries/{entry_id:str}")
    async def update_entry(
        self,
        book_id: FromPath[str],
        entry_id: FromPath[str],
        data: JSONBody[EntryFields],
        lore: Lore,
        user: CurrentUser,
    ) -> LoreEntry:
        return await lore.update_entry(user, book_id, entry_id, data)

    @delete("/{book_id:str}/entries/{entry_id:str}", status_code=204)
    async def delete_entry(
        self, book_id: FromPath[str], entry_id: FromPath[str], lore: Lore, user: CurrentUser
    ) -> None:
        await lore.delete_entry(user, book_id, entry_id)

    # -- where the book applies ------------------------------------------------------------------------------

    @get("/{book_id:str}/attachments")
    async def list_attachments(self, book_id: FromPath[str], lore: Lore, user: CurrentUser) -> LinkList:
        """Where the book applies besides its character: globally, to personas, to chats."""
        return LinkList(items=await lore.links(user, book_id))

    @post("/{book_id:str}/attachments", status_code=201)
    async def attach(self, book_id: FromPath[str], data: JSONBody[LinkIn], lore: Lore, user: CurrentUser) -> LinkList:
        """Attach to every chat of the caller (`global`), a persona (`persona`) or one chat (`conversation`)."""
        return LinkList(items=await lore.attach(user, book_id, data))

    @delete("/{book_id:str}/attachments/{kind:str}", status_code=204)
    async def detach_global(self, book_id: FromPath[str], kind: FromPath[str], lore: Lore, user: CurrentUser) -> None:
        """`kind` is `global` (a persona or chat link also names its target: the route below)."""
        await lore.detach(user, book_id, link_in(kind))

    @delete("/{book_id:str}/attachments/{kind:str}/{target_id:str}", status_code=204)
    async def detach(
        self, book_id: FromPath[str], kind: FromPath[str], target_id: FromPath[str], lore: Lore, user: CurrentUser
    ) -> None:
        await lore.detach(user, book_id, link_in(kind, target_id))


class ChatLoreController(Controller):
    path = "/api/v1/conversations"
    tags = ["lorebooks"]

    @get("/{conversation_id:str}/lorebooks")
    async def chat_lorebooks(self, conversation_id: FromPath[str], lore: Lore, user: CurrentUser) -> AppliedBookList:
        """The books whose entries this chat's World Info scans: the character's, the chat's, the persona's
        and the caller's global ones."""
        return AppliedBookList(items=await lore.applied(user, conversation_id))
