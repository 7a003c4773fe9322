"""The lorebook pages: the list (with World Info settings) and the editor, every entry field on it.

HTMX saves one entry at a time and swaps only that entry; without JavaScript the same forms post and
redirect back. A refused save shows its message inside the entry (an HTMX swap needs a 200) and stores
nothing; a refused full-page post answers 422.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from bostonia.errors import InvalidInput
from bostonia.http.deps import CurrentUser
from bostonia.identity import User
from bostonia.lore import forms
from bostonia.lore.deps import Lore
from bostonia.lore.schemas import BookCreate, EntryFields, LinkIn, LoreEntry
from bostonia.lore.service import LoreService
from bostonia.ui.forms import Form


def _htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _entry(
    book_id: str, entry: LoreEntry, *, error: str | None = None, saved: bool = False, open_: bool = False
) -> Template:
    return Template(
        "_lore_entry.html",
        context={
            "book_id": book_id,
            "e": forms.entry_values(entry),
            "choices": forms.choices(),
            "error": error,
            "saved": saved,
            "open": open_,
        },
    )


class LorePages(Controller):
    include_in_schema = False

    async def _list(self, user: User, lore: LoreService, error: str | None = None, status: int = 200) -> Template:
        return Template(
            "lorebooks.html",
            status_code=status,
            context={
                "user": user,
                "books": await lore.list(user),
                "settings": await lore.settings(user),
                "error": error,
            },
        )

    @get("/lorebooks")
    async def lorebooks_page(self, user: CurrentUser, lore: Lore) -> Template:
        return await self._list(user, lore)

    @post("/lorebooks", status_code=200)
    async def create(self, data: Form, user: CurrentUser, lore: Lore) -> Template | Redirect:
        name = data.get("name", "").strip()
        if not name or len(name) > 200:
            return await self._list(user, lore, "a lorebook needs a name of 1 to 200 characters", 422)
        book = await lore.create(user, BookCreate(name=name, description=data.get("description", "")[:4000]))
        return Redirect(f"/lorebooks/{book.id}", status_code=303)

    @post("/lorebooks/settings", status_code=200)
    async def save_settings(self, data: Form, user: CurrentUser, lore: Lore) -> Template | Redirect:
        try:
            await lore.update_settings(user, forms.settings_patch(data))
        except InvalidInput as exc:
            return await self._list(user, lore, exc.message, 422)
        return Redirect("/lorebooks", status_code=303)

    @get("/lorebooks/{book_id:str}")
    async def editor(self, book_id: FromPath[str], user: CurrentUser, lore: Lore) -> Template:
        book = await lore.get(user, book_id)
        links = await lore.links(user, book_id)
        conversations, persona_list = await lore.attach_targets(user)
        names = {c.id: f"{c.title or c.character_name}" for c in conversations} | {p.id: p.name for p in persona_list}
        return Template(
            "lorebook.html",
            context={
                "user": user,
                "book": book,
                "entries": [forms.entry_values(entry) for entry in book.entries],
                "choices": forms.choices(),
                "links": [
                    {"scope": link.scope, "target_id": link.target_id, "name": names.get(link.target_id, "")}
                    for link in links
                ],
                "is_global": any(link.scope == "global" for link in links),
                "conversations": conversations,
                "personas": persona_list,
            },
        )

    @post("/lorebooks/{book_id:str}")
    async def save_book(self, book_id: FromPath[str], data: Form, user: CurrentUser, lore: Lore) -> Redirect:
        await lore.update(user, book_id, forms.book_patch(data))
        return Redirect(f"/lorebooks/{book_id}", status_code=303)

    @post("/lorebooks/{book_id:str}/delete")
    async def delete(self, book_id: FromPath[str], user: CurrentUser, lore: Lore) -> Redirect:
        await lore.delete(user, book_id)
        return Redirect("/lorebooks", status_code=303)

    @post("/lorebooks/{book_id:str}/entries", status_code=200)
    async def add_entry(
        self, book_id: FromPath[str], request: Request[Any, Any, Any], user: CurrentUser, lore: Lore
    ) -> Template | Redirect:
        entry = await lore.add_entry(user, book_id, EntryFields(comment="New entry"))
        if _htmx(request):
            return _entry(book_id, entry, open_=True)
        return Redirect(f"/lorebooks/{book_id}#entry-{entry.id}", status_code=303)

    @post("/lorebooks/{book_id:str}/entries/{entry_id:str}", status_code=200)
    async def save_entry(
        self,
        book_id: FromPath[str],
        entry_id: FromPath[str],
        data: Form,
        request: Request[Any, Any, Any],
        user: CurrentUser,
        lore: Lore,
    ) -> Template | Redirect:
        try:
            entry = await lore.update_entry(user, book_id, entry_id, forms.entry_fields(data))
        except InvalidInput as exc:
            if not _htmx(request):
                raise
            return _entry(book_id, await lore.entry(user, book_id, entry_id), error=exc.message, open_=True)
        if _htmx(request):
            return _entry(book_id, entry, saved=True, open_=True)
        return Redirect(f"/lorebooks/{book_id}#entry-{entry_id}", status_code=303)

    @post("/lorebooks/{book_id:str}/entries/{entry_id:str}/delete", status_code=200)
    async def delete_entry(
        self,
        book_id: FromPath[str],
        entry_id: FromPath[str],
        request: Request[Any, Any, Any],
        user: CurrentUser,
        lore: Lore,
    ) -> Response[str] | Redirect:
        await lore.delete_entry(user, book_id, entry_id)
        if _htmx(request):
            return Response(content="", media_type=MediaType.HTML)  # HTMX removes the entry
        return Redirect(f"/lorebooks/{book_id}", status_code=303)

    @post("/lorebooks/{book_id:str}/attachments")
    async def attach(self, book_id: FromPath[str], data: Form, user: CurrentUser, lore: Lore) -> Redirect:
        scope = data.get("scope", "")
        if scope not in ("global", "persona", "conversation"):
            raise InvalidInput("attach to global, a persona or a conversation", details={"field": "scope"})
        await lore.attach(user, book_id, LinkIn(scope=scope, target_id=data.get("target_id") or None))  # type: ignore[arg-type]
        return Redirect(f"/lorebooks/{book_id}#attachments", status_code=303)

    @post("/lorebooks/{book_id:str}/attachments/delete")
    async def detach(self, book_id: FromPath[str], data: Form, user: CurrentUser, lore: Lore) -> Redirect:
        scope = data.get("scope", "")
        if scope not in ("global", "persona", "conversation"):
            raise InvalidInput("detach from global, a persona or a conversation", details={"field": "scope"})
        await lore.detach(user, book_id, LinkIn(scope=scope, target_id=data.get("target_id") or None))  # type: ignore[arg-type]
        return Redirect(f"/lorebooks/{book_id}#attachments", status_code=303)
