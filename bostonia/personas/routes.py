from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from bostonia.errors import InvalidInput
from bostonia.http.deps import CurrentUser
from bostonia.personas.deps import Personas
from bostonia.personas.schemas import CreatePersona, PersonaList, PersonaOut, UpdatePersona


def _fields(data: msgspec.Struct) -> dict[str, object]:
    fields = {key: value for key, value in msgspec.structs.asdict(data).items() if value is not None}
    if isinstance(fields.get("name"), str) and not str(fields["name"]).strip():
        raise InvalidInput("name must not be blank", details={"field": "name"})
    return fields


class PersonaController(Controller):
    path = "/api/v1/personas"
    tags = ["personas"]

    @get("/")
    async def list_personas(self, personas: Personas, user: CurrentUser) -> PersonaList:
        return PersonaList(items=await personas.list(user))

    @post("/", status_code=201)
    async def create_persona(self, data: JSONBody[CreatePersona], personas: Personas, user: CurrentUser) -> PersonaOut:
        """A persona: who you are in a chat. Its name and description feed `{{user}}` and the prompt."""
        return await personas.create(user, _fields(data))

    @get("/{persona_id:str}")
    async def get_persona(self, persona_id: FromPath[str], personas: Personas, user: CurrentUser) -> PersonaOut:
        return await personas.get(user, persona_id)

    @patch("/{persona_id:str}")
    async def update_persona(
        self, persona_id: FromPath[str], data: JSONBody[UpdatePersona], personas: Personas, user: CurrentUser
    ) -> PersonaOut:
        return await personas.update(user, persona_id, _fields(data))

    @delete("/{persona_id:str}", status_code=204)
    async def delete_persona(self, persona_id: FromPath[str], personas: Personas, user: CurrentUser) -> None:
        await personas.delete(user, persona_id)
