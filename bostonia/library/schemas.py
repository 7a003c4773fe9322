"""The shapes of a user's library: favorites and collections."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bostonia.characters.schemas import Character

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

CollectionName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
CollectionDescription = Annotated[str, msgspec.Meta(max_length=1000)]


class CharacterRef(msgspec.Struct, forbid_unknown_fields=True):
    character_id: Id


class Collection(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    name: str
    description: str
    is_public: bool
    character_count: int
    created_at: str
    updated_at: str


class CollectionList(msgspec.Struct):
    items: list[Collection]


class CollectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: CollectionName
    description: CollectionDescription = ""
    is_public: bool = False


class CollectionUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: CollectionName | msgspec.UnsetType = msgspec.UNSET
    description: CollectionDescription | msgspec.UnsetType = msgspec.UNSET
    is_public: bool | msgspec.UnsetType = msgspec.UNSET


class CollectionDetail(msgspec.Struct, kw_only=True):
    """A collection with the characters in it that the viewer may see."""

    collection: Collection
    characters: list[Character]
