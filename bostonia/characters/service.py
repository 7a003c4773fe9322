"""Who may see which character: visibility and content tier, checked here for every caller."""

from __future__ import annotations

from bostonia.characters.schemas import Character
from bostonia.characters.store import CharacterStore
from bostonia.errors import NotFound
from bostonia.users.schemas import User

TIER_ORDER = ("sfw", "mature", "adult")


def allowed_content_tiers(viewer: User | None) -> tuple[str, ...]:
    """Mature and adult characters exist only for adults who verified their age and opted in."""
    if viewer is None or not viewer.age_verified:
        return ("sfw",)
    return TIER_ORDER[: TIER_ORDER.index(viewer.content_tier) + 1]


class CharacterService:
    def __init__(self, characters: CharacterStore) -> None:
        self.characters = characters

    async def list(self, viewer: User | None) -> list[Character]:
        return await self.characters.list_visible(
            viewer_id=viewer.id if viewer else None, content_tiers=allowed_content_tiers(viewer)
        )

    async def get(self, viewer: User | None, character_id: str) -> Character:
        """A character the viewer may see; anything else is reported as missing, not forbidden,
        so that private ids cannot be probed."""
        character = await self.characters.get(character_id)
        if character is None or not self.can_view(viewer, character):
            raise NotFound("character not found")
        return character

    @staticmethod
    def can_view(viewer: User | None, character: Character) -> bool:
        if viewer is not None and character.creator_id == viewer.id:
            return True
        # Admins too: another user's private character is theirs alone, and without a verified age
        # there is no mature or adult content for anyone.
        return character.visibility != "private" and character.content_tier in allowed_content_tiers(viewer)
