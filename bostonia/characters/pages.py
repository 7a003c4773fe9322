"""Catalogue pages: the character grid and a character's page."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template

from bostonia.http.deps import Characters, Chat, Viewer


class CharacterPages(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, viewer: Viewer, characters: Characters) -> Template:
        return Template("home.html", context={"user": viewer, "characters": await characters.list(viewer)})

    @get("/characters/{character_id:str}")
    async def character_page(
        self, character_id: FromPath[str], viewer: Viewer, characters: Characters, chat: Chat
    ) -> Template:
        character = await characters.get(viewer, character_id)
        conversations = await chat.list_conversations(viewer, character_id=character_id) if viewer else []
        return Template(
            "character.html", context={"user": viewer, "character": character, "conversations": conversations}
        )
