"""Lorebooks over HTTP. Importing goes through `POST /api/v1/characters/import` (any card or book file)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get
from litestar.params import FromPath, FromQuery

from bostonia.http.deps import CurrentUser
from bostonia.http.downloads import attachment
from bostonia.lore.deps import Lore
from bostonia.lore.schemas import ExportFormat, Lorebook, LorebookList


class LorebookController(Controller):
    path = "/api/v1/lorebooks"
    tags = ["lorebooks"]

    @get("/")
    async def list_lorebooks(self, lore: Lore, user: CurrentUser) -> LorebookList:
        """The caller's lorebooks, standalone and embedded in their characters."""
        return LorebookList(items=await lore.list(user))

    @get("/{book_id:str}")
    async def get_lorebook(self, book_id: FromPath[str], lore: Lore, user: CurrentUser) -> Lorebook:
        return await lore.get(user, book_id)

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
