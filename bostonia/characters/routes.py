from __future__ import annotations

from litestar import Controller, get

from bostonia.characters.schemas import Character, CharacterList
from bostonia.characters.service import CharacterService
from bostonia.users.schemas import User


class CharacterController(Controller):
    path = "/api/v1/characters"
    tags = ["characters"]

    @get("/")
    async def list_characters(self, characters: CharacterService, viewer: User | None) -> CharacterList:
        return CharacterList(items=await characters.list(viewer))

    @get("/{character_id:str}")
    async def get_character(self, character_id: str, characters: CharacterService, viewer: User | None) -> Character:
        return await characters.get(viewer, character_id)
