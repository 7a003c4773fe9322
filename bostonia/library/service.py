"""A user's library: favorite characters and collections (private, or public for anyone to read).

Only characters the user may see can be added; lists show only characters the *viewer* may see, so a
public collection never reveals another user's private or age-restricted characters.
"""

from __future__ import annotations

from bostonia.characters.schemas import Character, FavoriteState
from bostonia.characters.service import CharacterService
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User
from bostonia.library.schemas import Collection, CollectionCreate, CollectionDetail, CollectionUpdate
from bostonia.library.store import LibraryStore
from bostonia.structs import changes_of

MISSING_COLLECTION = "collection not found"


def _name(name: str) -> str:
    if not name.strip():
        raise InvalidInput("name must not be blank", details={"field": "name"})
    return name.strip()


class LibraryService:
    def __init__(self, store: LibraryStore, characters: CharacterService) -> None:
        self.store = store
        self.characters = characters

    # -- favorites ---------------------------------------------------------------------------------

    async def favorites(self, user: User) -> list[Character]:
        return await self.characters.visible(user, await self.store.favorite_ids(user.id))

    async def favorite(self, user: User, character_id: str) -> FavoriteState:
        character = await self.characters.get(user, character_id)  # 404 unless the user may see it
        count = await self.store.add_favorite(user.id, character.id)
        return FavoriteState(character_id=character.id, favorited=True, favorite_count=count)

    async def unfavorite(self, user: User, character_id: str) -> FavoriteState:
        removed, count = await self.store.remove_favorite(user.id, character_id)
        if not removed:
            raise NotFound("this character is not in your favorites")
        return FavoriteState(character_id=character_id, favorited=False, favorite_count=count)

    # -- collections -------------------------------------------------------------------------------

    async def collections(self, user: User) -> list[Collection]:
        return await self.store.collections_of(user.id)

    async def create_collection(self, user: User, data: CollectionCreate) -> Collection:
        return await self.store.create_collection(user.id, _name(data.name), data.description, data.is_public)

    async def _readable(self, viewer: User | None, collection_id: str) -> Collection:
        collection = await self.store.collection(collection_id)
        if collection is None or not (collection.is_public or (viewer and viewer.id == collection.user_id)):
            raise NotFound(MISSING_COLLECTION)
        return collection

    async def _owned(self, user: User, collection_id: str) -> Collection:
        collection = await self.store.collection(collection_id)
        if collection is None or collection.user_id != user.id:
            raise NotFound(MISSING_COLLECTION)
        return collection

    async def collection(self, viewer: User | None, collection_id: str) -> CollectionDetail:
        """The owner's collection, or anyone's public one."""
        collection = await self._readable(viewer, collection_id)
        characters = await self.characters.visible(viewer, await self.store.collection_character_ids(collection.id))
        return CollectionDetail(collection=collection, characters=characters)

    async def own_collection(self, user: User, collection_id: str) -> CollectionDetail:
        """The user's own collection (someone else's, public or not, is not theirs to manage)."""
        collection = await self._owned(user, collection_id)
        characters = await self.characters.visible(user, await self.store.collection_character_ids(collection.id))
        return CollectionDetail(collection=collection, characters=characters)

    async def update_collection(self, user: User, collection_id: str, update: CollectionUpdate) -> Collection:
        await self._owned(user, collection_id)
        changes = changes_of(update)
        if "name" in changes:
            changes["name"] = _name(changes["name"])
        await self.store.update_collection(collection_id, changes)
        return await self._owned(user, collection_id)

    async def delete_collection(self, user: User, collection_id: str) -> None:
        await self._owned(user, collection_id)
        await self.store.delete_collection(collection_id)

    async def add_character(self, user: User, collection_id: str, character_id: str) -> CollectionDetail:
        await self._owned(user, collection_id)
        character = await self.characters.get(user, character_id)
        await self.store.add_to_collection(collection_id, character.id)
        return await self.collection(user, collection_id)

    async def remove_character(self, user: User, collection_id: str, character_id: str) -> CollectionDetail:
        await self._owned(user, collection_id)
        if not await self.store.remove_from_collection(collection_id, character_id):
            raise NotFound("this character is not in the collection")
        return await self.collection(user, collection_id)
