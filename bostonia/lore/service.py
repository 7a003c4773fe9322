"""Lorebooks a user owns: standalone World Info / `lorebook_v3` imports and the books embedded in cards."""

from __future__ import annotations

from typing import Any

from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User
from bostonia.lore import convert
from bostonia.lore.schemas import ExportFormat, Lorebook, LorebookSummary
from bostonia.lore.store import LorebookStore


class LoreService:
    def __init__(self, books: LorebookStore) -> None:
        self.books = books

    async def list(self, user: User) -> list[LorebookSummary]:
        return await self.books.list_for_owner(user.id)

    async def get(self, user: User, book_id: str) -> Lorebook:
        """The owner's book. Anyone else (admins too: a user's books are theirs alone, like their private
        characters) gets 404, so ids cannot be probed."""
        book = await self.books.get(book_id)
        if book is None or book.owner_id != user.id:
            raise NotFound("lorebook not found")
        return book

    async def export(self, user: User, book_id: str, fmt: ExportFormat = "world_info") -> tuple[str, dict[str, Any]]:
        """(name, file body) of the book in `fmt`."""
        book = await self.get(user, book_id)
        if fmt == "world_info":
            return book.name, convert.book_to_world_info(book)
        if fmt == "lorebook_v3":
            return book.name, convert.book_to_lorebook_v3(book)
        raise InvalidInput(f"unknown lorebook format {fmt!r}; use world_info or lorebook_v3")

    async def delete(self, user: User, book_id: str) -> None:
        await self.get(user, book_id)
        await self.books.delete(book_id)
