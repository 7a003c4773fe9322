from __future__ import annotations

from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Description = Annotated[str, msgspec.Meta(max_length=4000)]


class PersonaOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    avatar_url: str | None
    is_default: bool
    created_at: str
    updated_at: str


class PersonaList(msgspec.Struct):
    items: list[PersonaOut]


class CreatePersona(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    description: Description = ""
    is_default: bool = False


class UpdatePersona(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | None = None
    description: Description | None = None
    is_default: bool | None = None
