from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from bostonia.errors import InvalidInput
from bostonia.identity import ContentTier
from bostonia.json_limits import check_json_size
from bostonia.llm.base import SamplerSettings

Visibility = Literal["private", "unlisted", "public"]
Sort = Literal["new", "popular", "rating"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "unlisted", "public")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Line = Annotated[str, msgspec.Meta(max_length=300)]
Text = Annotated[str, msgspec.Meta(max_length=200_000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
Greetings = Annotated[list[Text], msgspec.Meta(max_length=200)]
Credits = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


# Bounds on the free-form JSON a character carries, in bytes of JSON text. Every catalogue page and search
# answer sends `settings`, `extensions` and `card_extra` of each character listed: these keep a page of 24
# within a few MB whatever its characters hold. Real cards' extensions (SillyTavern's depth prompt, regex
# scripts, app keys) are a few KB; an embedded lorebook is not listed, and its entries have their own caps.
FREE_FORM_LIMITS = {
    "settings": 16 * 1024,
    "extensions": 64 * 1024,
    "card_extra": 128 * 1024,
    "character_book": 4 * 1024 * 1024,
}


def check_free_form_sizes(values: dict[str, Any]) -> None:
    """PayloadTooLarge (413) naming the first free-form field over its limit."""
    for field, limit in FREE_FORM_LIMITS.items():
        check_json_size(field, values.get(field), limit)


def sampler_settings(raw: Any, field: str = "settings") -> dict[str, Any]:
    """Validate per-character sampler defaults (names and ranges); raises InvalidInput naming the problem.

    Request bodies carry `settings` as a plain object validated here, not as a nested Struct: Litestar reports
    a body error whose key equals a dependency name (`settings`) as a 500 instead of a 400."""
    try:
        return dict(msgspec.to_builtins(msgspec.convert(raw, SamplerSettings)))
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{field}: {exc}", code="invalid_settings", details={"field": field}) from None


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
    avatar_thumb_url: str | None = None
    # V3: replaces {{char}} in prompts when set; greetings used only in group chats.
    nickname: str = ""
    group_only_greetings: list[str] = msgspec.field(default_factory=list)
    # The card's other fields (V3 source, assets, creator_notes_multilingual, dates, app keys), verbatim.
    card_extra: dict[str, Any] = msgspec.field(default_factory=dict)
    lorebook_id: str | None = None  # the embedded lorebook (the card's character_book)
    hidden_at: str | None = None  # hidden by an admin (moderation): only its creator and admins see it


class CharacterList(msgspec.Struct):
    items: list[Character]


class CharacterPage(msgspec.Struct):
    items: list[Character]
    next_cursor: str | None = None


# The plain-text fields of a character, each a column under the same name.
TEXT_FIELDS = (
    "name",
    "tagline",
    "description",
    "personality",
    "scenario",
    "greeting",
    "example_dialogue",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
    "creator_name",
    "character_version",
)


class CharacterCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A character written in Bostonia (the builder or the API). Card names in the comments."""

    name: Name
    tagline: Line | None = None  # None: the first line of the creator notes or description
    description: Text = ""
    personality: Text = ""
    scenario: Text = ""
    greeting: Text = ""  # first_mes
    example_dialogue: Text = ""  # mes_example
    system_prompt: Text = ""
    post_history_instructions: Text = ""
    creator_notes: Text = ""
    creator_name: Line = ""  # creator
    character_version: Line = ""
    nickname: Line = ""
    alternate_greetings: Greetings = msgspec.field(default_factory=list)
    group_only_greetings: Greetings = msgspec.field(default_factory=list)
    tags: Tags = msgspec.field(default_factory=list)
    visibility: Visibility = "private"
    content_tier: ContentTier = "sfw"
    is_premium: bool = False
    premium_credits: Credits = 0
    settings: dict[str, Any] = msgspec.field(default_factory=dict)  # a `SamplerSettings` (bostonia.llm.base)
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    card_extra: dict[str, Any] = msgspec.field(default_factory=dict)
    character_book: dict[str, Any] | None = None  # in card format (V2/V3 `character_book`)

    def __post_init__(self) -> None:  # a domain error (not ValueError): msgspec lets it through as it is
        check_free_form_sizes({field: getattr(self, field) for field in FREE_FORM_LIMITS})


class CharacterUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH: only the fields sent change. `character_book: null` removes the embedded lorebook."""

    name: Name | UnsetType = UNSET
    tagline: Line | UnsetType | None = UNSET  # None: the first line of the creator notes or description
    description: Text | UnsetType = UNSET
    personality: Text | UnsetType = UNSET
    scenario: Text | UnsetType = UNSET
    greeting: Text | UnsetType = UNSET
    example_dialogue: Text | UnsetType = UNSET
    system_prompt: Text | UnsetType = UNSET
    post_history_instructions: Text | UnsetType = UNSET
    creator_notes: Text | UnsetType = UNSET
    creator_name: Line | UnsetType = UNSET
    character_version: Line | UnsetType = UNSET
    nickname: Line | UnsetType = UNSET
    alternate_greetings: Greetings | UnsetType = UNSET
    group_only_greetings: Greetings | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    visibility: Visibility | UnsetType = UNSET
    content_tier: ContentTier | UnsetType = UNSET
    is_premium: bool | UnsetType = UNSET
    premium_credits: Credits | UnsetType = UNSET
    settings: dict[str, Any] | UnsetType = UNSET
    extensions: dict[str, Any] | UnsetType = UNSET
    card_extra: dict[str, Any] | UnsetType = UNSET
    character_book: dict[str, Any] | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        check_free_form_sizes({field: getattr(self, field) for field in FREE_FORM_LIMITS})

    def changes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not UNSET}


class Rate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    review: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class Review(msgspec.Struct, kw_only=True):
    id: str
    character_id: str
    user_id: str
    user_name: str
    rating: int
    review: str | None
    created_at: str
    updated_at: str


class ReviewPage(msgspec.Struct):
    items: list[Review]
    next_cursor: str | None = None


class RatingSummary(msgspec.Struct, kw_only=True):
    character_id: str
    avg_rating: float
    rating_count: int
    review: Review


class ImportFailure(msgspec.Struct, kw_only=True):
    file: str
    status: int  # the HTTP status this file alone would have got
    code: str
    message: str
    details: Any = None


class ImportedLorebook(msgspec.Struct, kw_only=True):
    id: str
    name: str
    file: str
    entry_count: int


class ImportedFile(msgspec.Struct, kw_only=True):
    """One uploaded file's outcome, in upload order."""

    file: str
    kind: Literal["character", "lorebook", "duplicate", "error"]  # duplicate: `id` is the character already there
    id: str | None = None
    format: str | None = None  # png, json, charx, world_info, lorebook_v3, character_book, novelai, agnai, risu
    error: str | None = None


class ImportResult(msgspec.Struct, kw_only=True):
    items: list[Character]
    lorebooks: list[ImportedLorebook] = msgspec.field(default_factory=list)
    errors: list[ImportFailure] = msgspec.field(default_factory=list)
    files: list[ImportedFile] = msgspec.field(default_factory=list)


class FavoriteState(msgspec.Struct, kw_only=True):
    """A character's favorite button for one viewer (the count is the character's own counter)."""

    character_id: str
    favorited: bool
    favorite_count: int
