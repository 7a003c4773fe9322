from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath

from bostonia.characters.schemas import Character, CharacterList
from bostonia.http.deps import Characters, Viewer


class CharacterController(Controller):
    path = "/api/v1/characters"
    tags = ["characters"]

    @get("/")
    async def list_characters(self, characters: Characters, viewer: Viewer) -> CharacterList:
        return CharacterList(items=await characters.list(viewer))

    @get("/{character_id:str}")
    async def get_character(self, character_id: FromPath[str], characters: Characters, viewer: Viewer) -> Character:
        return await characters.get(viewer, character_id)
