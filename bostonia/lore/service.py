"""Lorebooks a user owns — standalone World Info / `lorebook_v3` imports, books made here, and the books
embedded in their characters — their entries, the chats they apply to, and World Info settings.

Every operation checks ownership first and validates everything before writing, so a refused request
changes nothing. Someone else's book (admins' too: a user's books are theirs alone, like their private
characters) is reported as missing, so ids cannot be probed.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

import msgspec

from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User
from bostonia.lore import convert
from bostonia.lore.editing import apply_fields, new_entry
from bostonia.lore.schemas import (
    AppliedBook,
    BookCreate,
    BookPatch,
    EntryFields,
    ExportFormat,
    Link,
    LinkIn,
    Lorebook,
    LorebookSummary,
    LoreEntry,
    LoreSettings,
    LoreSettingsPatch,
)
from bostonia.lore.store import LorebookStore
from bostonia.lore.timed import EntryState


class ConversationLookup(Protocol):
    async def get_conversation(self, user: User, conversation_id: str) -> Any:
        """The caller's conversation (with `id`, `user_id`, `persona_id`, `character_id`), else NotFound."""
        ...

    async def list_conversations(self, user: User) -> Any:
        """The caller's conversations (with `id`, `title`, `character_name`)."""
        ...


class PersonaLookup(Protocol):
    async def list(self, user: User) -> Any:
        """The caller's personas (with `id`, `name`)."""
        ...

    async def get(self, user: User, persona_id: str) -> Any:
        """The caller's persona, else NotFound."""
        ...

    async def chat_persona(self, user: User, persona_id: str | None) -> tuple[str | None, str]: ...


class CharacterBookLookup(Protocol):
    async def of_conversation(self, character_id: str) -> Any:
        """The conversation's character (with `lorebook_id`)."""
        ...


class LoreService:
    def __init__(
        self,
        books: LorebookStore,
        *,
        conversations: ConversationLookup | None = None,
        personas: PersonaLookup | None = None,
        characters: CharacterBookLookup | None = None,
    ) -> None:
        self.books = books
        self.conversations = conversations
        self.personas = personas
        self.characters = characters

    # -- books ------------------------------------------------------------------------------------------

    async def list(self, user: User) -> builtins.list[LorebookSummary]:
        return await self.books.list_for_owner(user.id)

    async def _own(self, user: User, book_id: str) -> None:
        found = await self.books.owner_of(book_id)
        if found is None or found[0] != user.id:
            raise NotFound("lorebook not found")

    async def get(self, user: User, book_id: str) -> Lorebook:
        await self._own(user, book_id)
        book = await self.books.get(book_id)
        if book is None:
            raise NotFound("lorebook not found")
        return book

    async def create(self, user: User, data: BookCreate) -> Lorebook:
        entries = []
        for index, fields in enumerate(data.entries):
            try:
                entries.append(new_entry(fields))
            except InvalidInput as exc:
                exc.details = {**(exc.details or {}), "entry": index}
                raise
        book = Lorebook(
            name=data.name.strip() or "Lorebook",
            description=data.description,
            scan_depth=data.scan_depth,
            token_budget=data.token_budget,
            recursive_scanning=data.recursive_scanning,
            entries=entries,
        )
        book_id = await self.books.create(book, owner_id=user.id)
        return await self.get(user, book_id)

    async def update(self, user: User, book_id: str, data: BookPatch) -> Lorebook:
        await self._own(user, book_id)
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "name" in fields:
            fields["name"] = fields["name"].strip()
            if not fields["name"]:
                raise InvalidInput("a lorebook needs a name", details={"field": "name"})
        await self.books.update_book(book_id, fields)
        return await self.get(user, book_id)

    async def export(self, user: User, book_id: str, fmt: ExportFormat = "world_info") -> tuple[str, dict[str, Any]]:
        """(name, file body) of the book in `fmt`."""
        book = await self.get(user, book_id)
        if fmt == "world_info":
            return book.name, convert.book_to_world_info(book)
        if fmt == "lorebook_v3":
            return book.name, convert.book_to_lorebook_v3(book)
        raise InvalidInput(f"unknown lorebook format {fmt!r}; use world_info or lorebook_v3")

    async def delete(self, user: User, book_id: str) -> None:
        await self._own(user, book_id)
        await self.books.delete(book_id)

    # -- entries ----------------------------------------------------------------------------------------

    async def entry(self, user: User, book_id: str, entry_id: str) -> LoreEntry:
        await self._own(user, book_id)
        found = await self.books.entry(book_id, entry_id)
        if found is None:
            raise NotFound("lorebook entry not found")
        return found

    async def add_entry(self, user: User, book_id: str, fields: EntryFields) -> LoreEntry:
        await self._own(user, book_id)
        entry = new_entry(fields)
        entry_id = await self.books.add_entry(book_id, entry)
        return await self.entry(user, book_id, entry_id)

    async def update_entry(self, user: User, book_id: str, entry_id: str, fields: EntryFields) -> LoreEntry:
        entry = apply_fields(await self.entry(user, book_id, entry_id), fields)
        await self.books.update_entry(book_id, entry)
        return await self.entry(user, book_id, entry_id)

    async def delete_entry(self, user: User, book_id: str, entry_id: str) -> None:
        await self.entry(user, book_id, entry_id)
        await self.books.delete_entry(book_id, entry_id)

    # -- where books apply --------------------------------------------------------------------------------

    async def _target(self, user: User, link: LinkIn) -> str:
        """The id a link points at, after checking the caller owns it."""
        if link.scope == "global":
            if link.target_id not in (None, user.id):
                raise InvalidInput("a global link needs no target_id", details={"field": "target_id"})
            return user.id
        if not link.target_id:
            raise InvalidInput(f"a {link.scope} link needs a target_id", details={"field": "target_id"})
        if link.scope == "persona":
            assert self.personas is not None
            await self.personas.get(user, link.target_id)
            return link.target_id
        assert self.conversations is not None
        conversation = await self.conversations.get_conversation(user, link.target_id)
        if conversation.user_id != user.id:  # an admin reading a chat may not put their lore into it
            raise NotFound("conversation not found")
        return link.target_id

    async def attach_targets(self, user: User) -> tuple[builtins.list[Any], builtins.list[Any]]:
        """(the caller's conversations, their personas): what a book can be attached to."""
        assert self.conversations is not None and self.personas is not None
        return list(await self.conversations.list_conversations(user)), list(await self.personas.list(user))

    async def links(self, user: User, book_id: str) -> builtins.list[Link]:
        await self._own(user, book_id)
        return await self.books.links(book_id)

    async def attach(self, user: User, book_id: str, link: LinkIn) -> builtins.list[Link]:
        await self._own(user, book_id)
        target = await self._target(user, link)
        await self.books.link(book_id, link.scope, target)
        return await self.books.links(book_id)

    async def detach(self, user: User, book_id: str, link: LinkIn) -> None:
        await self._own(user, book_id)
        target = user.id if link.scope == "global" else link.target_id
        if not target or not await self.books.unlink(book_id, link.scope, target):
            raise NotFound("this lorebook is not attached there")

    async def applied(self, user: User, conversation_id: str) -> builtins.list[AppliedBook]:
        """The books that take part in a chat's World Info, in the order they are scanned."""
        assert self.conversations is not None and self.personas is not None and self.characters is not None
        conversation = await self.conversations.get_conversation(user, conversation_id)
        if conversation.user_id != user.id:
            raise NotFound("conversation not found")
        # Every character's own book (a group chat has several members; a chat without them, one).
        characters = [m.character_id for m in getattr(conversation, "members", [])] or [conversation.character_id]
        books = [(await self.characters.of_conversation(cid)).lorebook_id for cid in characters]
        persona_id, _ = await self.personas.chat_persona(user, conversation.persona_id)
        return await self.books.applied(user.id, conversation.id, [b for b in books if b], persona_id)

    async def chat_state(self, user: User, conversation_id: str) -> builtins.list[EntryState]:
        assert self.conversations is not None
        conversation = await self.conversations.get_conversation(user, conversation_id)
        if conversation.user_id != user.id:
            raise NotFound("conversation not found")
        return await self.books.entry_state(conversation.id)

    # -- settings ---------------------------------------------------------------------------------------------

    async def settings(self, user: User) -> LoreSettings:
        return await self.books.settings(user.id)

    async def update_settings(self, user: User, patch: LoreSettingsPatch) -> LoreSettings:
        current = msgspec.structs.asdict(await self.books.settings(user.id))
        current.update({k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET})
        settings = msgspec.convert(current, LoreSettings)
        await self.books.save_settings(user.id, settings)
        return settings
