"""Personas belong to one user; a conversation uses its own persona, else the user's default."""

from __future__ import annotations

from typing import Any

from bostonia.errors import NotFound
from bostonia.identity import User
from bostonia.personas.schemas import PersonaOut
from bostonia.personas.store import PersonaStore
from bostonia.prompt.builder import Persona


class PersonaService:
    def __init__(self, personas: PersonaStore) -> None:
        self.personas = personas

    async def list(self, user: User) -> list[PersonaOut]:
        return await self.personas.list(user.id)

    async def get(self, user: User, persona_id: str) -> PersonaOut:
        found = await self.personas.get(persona_id)
        if found is None or found[0] != user.id:
            raise NotFound("persona not found")
        return found[1]

    async def create(self, user: User, fields: dict[str, Any]) -> PersonaOut:
        return await self.personas.save(user.id, {**fields, "name": fields["name"].strip()})

    async def update(self, user: User, persona_id: str, fields: dict[str, Any]) -> PersonaOut:
        await self.get(user, persona_id)
        return await self.personas.save(user.id, fields, persona_id)

    async def delete(self, user: User, persona_id: str) -> None:
        await self.get(user, persona_id)
        await self.personas.delete(persona_id)

    async def _chosen(self, user_id: str, persona_id: str | None) -> PersonaOut | None:
        chosen = None
        if persona_id is not None:
            found = await self.personas.get(persona_id)
            chosen = found[1] if found and found[0] == user_id else None
        return chosen or await self.personas.default(user_id)

    async def for_chat(self, user: User, persona_id: str | None) -> Persona:
        """The persona a conversation speaks as: its own, else the default, else the account's name."""
        return await self.of_person(user.id, user.display_name, persona_id)

    async def of_person(self, user_id: str, display_name: str, persona_id: str | None) -> Persona:
        """`for_chat` for someone else in a shared chat (the prompt names everyone in the room)."""
        chosen = await self._chosen(user_id, persona_id)
        if chosen is None:
            return Persona(name=display_name)
        return Persona(name=chosen.name, description=chosen.description)

    async def chat_persona(self, user: User, persona_id: str | None) -> tuple[str | None, str]:
        """(id, name) of the persona a conversation speaks as; no id when it is the account itself."""
        chosen = await self._chosen(user.id, persona_id)
        return (chosen.id, chosen.name) if chosen else (None, user.display_name)
