from __future__ import annotations

from typing import Any, Literal

import msgspec

Visibility = Literal["private", "unlisted", "public"]
ContentTier = Literal["sfw", "mature", "adult"]


class Character(msgspec.Struct, kw_only=True):
    id: str
    name: str
    tagline: str
    description: str
    personality: str
    scenario: str
    greeting: str
    example_dialogue: str
    system_prompt: str
    post_history_instructions: str
    alternate_greetings: list[str]
    creator_notes: str
    creator_name: str
    character_version: str
    tags: list[str]
    avatar_url: str | None
    visibility: Visibility
    content_tier: ContentTier
    is_premium: bool
    premium_credits: int
    creator_id: str | None
    is_bundled: bool
    settings: dict[str, Any]
    extensions: dict[str, Any]
    avg_rating: float
    rating_count: int
    favorite_count: int
    total_conversations: int
    total_messages: int
    created_at: str
    updated_at: str


class CharacterList(msgspec.Struct):
    items: list[Character]
