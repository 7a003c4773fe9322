"""Lorebooks (SillyTavern World Info / card `character_book`) as Bostonia stores them.

An entry keeps the card's own fields as columns and its `extensions` verbatim (SillyTavern puts its World
Info settings there in snake_case: `depth`, `probability`, `match_whole_words`, ...). The columns
`selective_logic`, `depth`, `role`, `match_whole_words`, `probability` and `display_index` are derived from
those extensions when the entry is written, so lore activation can query them without parsing JSON.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import msgspec

Uid = int | str
ROLES = ("system", "user", "assistant")  # World Info `role` 0, 1, 2
# World Info `position`: 0 before the character, 1 after, 2/3 author's note top/bottom, 4 at a depth,
# 5/6 top/bottom of the example messages.
PLACEMENTS = ("before_char", "after_char", "an_top", "an_bottom", "at_depth", "em_top", "em_bottom")
ExportFormat = Literal["world_info", "lorebook_v3"]


def extension_number(value: Any) -> int | None:
    """An extension's number as SillyTavern's JavaScript reads it: 4, 4.0 or "4" (hand-edited and converted
    files write numbers as text); None for anything else."""
    if isinstance(value, str):
        try:
            value = float(value) if value.strip() else None
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def extension_flag(value: Any) -> bool | None:
    """An extension's true/false (or "true"/"false"); None for anything else."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value if isinstance(value, bool) else None


class LoreEntry(msgspec.Struct, kw_only=True):
    id: str = ""  # ours; empty until stored
    uid: Uid | None = None  # the entry's id in its source file (card `id` / World Info `uid`), as it was
    keys: list[str] = msgspec.field(default_factory=list)
    secondary_keys: list[str] = msgspec.field(default_factory=list)
    content: str = ""
    name: str = ""
    comment: str = ""
    enabled: bool = True
    constant: bool = False
    selective: bool = False
    selective_logic: int = 0  # 0 AND_ANY, 1 NOT_ALL, 2 NOT_ANY, 3 AND_ALL
    insertion_order: int = 100
    priority: int | None = None
    position: str = "before_char"  # the card's own field: before_char | after_char
    depth: int | None = None
    role: str | None = None
    case_sensitive: bool | None = None
    match_whole_words: bool | None = None
    use_regex: bool = False
    probability: int = 100
    display_index: int | None = None
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)  # unknown top-level keys of the source entry

    @property
    def placement(self) -> str:
        """Where activated content goes: World Info's finer `extensions.position` wins over the card's."""
        position = self.extensions.get("position")
        if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < len(PLACEMENTS):
            return PLACEMENTS[position]
        return "after_char" if self.position == "after_char" else "before_char"


class Lorebook(msgspec.Struct, kw_only=True):
    id: str = ""
    owner_id: str | None = None
    character_id: str | None = None  # set for a card's embedded book
    name: str = ""
    description: str = ""
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive_scanning: bool = False
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)  # unknown top-level keys of the source book
    entries: list[LoreEntry] = msgspec.field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""


class LorebookSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    character_id: str | None
    entry_count: int
    created_at: str
    updated_at: str


class LorebookList(msgspec.Struct):
    items: list[LorebookSummary]


# -- editing ------------------------------------------------------------------------------------------------
# Bounds on what the API accepts: generous for real books, small enough that one request cannot make the
# per-turn scan slow or the database large.
MAX_KEYS = 200
MAX_KEY_CHARS = 500
MAX_CONTENT_CHARS = 50_000
MAX_ENTRIES_PER_REQUEST = 5_000
MAX_DEPTH = 1000  # SillyTavern's MAX_SCAN_DEPTH

Key = Annotated[str, msgspec.Meta(max_length=MAX_KEY_CHARS)]
Keys = Annotated[list[Key], msgspec.Meta(max_length=MAX_KEYS)]
ShortText = Annotated[str, msgspec.Meta(max_length=2_000)]
Depth = Annotated[int, msgspec.Meta(ge=0, le=MAX_DEPTH)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Order = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
LOGIC_NAMES = ("and_any", "not_all", "not_any", "and_all")  # World Info `selectiveLogic` 0..3
Role = Literal["system", "user", "assistant"]


class EntryFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Every World Info setting of an entry, flat, for creating (unset = default) and patching (unset =
    unchanged). `position` is a placement name (`before_char`, `after_char`, `an_top`, `an_bottom`,
    `at_depth`, `em_top`, `em_bottom`) or SillyTavern's number 0-6; `selective_logic` a name
    (`and_any`, `not_all`, `not_any`, `and_all`) or 0-3; `delay_until_recursion` true or a level >= 1."""

    keys: Keys | msgspec.UnsetType = msgspec.UNSET
    secondary_keys: Keys | msgspec.UnsetType = msgspec.UNSET
    content: Annotated[str, msgspec.Meta(max_length=MAX_CONTENT_CHARS)] | msgspec.UnsetType = msgspec.UNSET
    comment: ShortText | msgspec.UnsetType = msgspec.UNSET
    name: ShortText | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    constant: bool | msgspec.UnsetType = msgspec.UNSET
    selective: bool | msgspec.UnsetType = msgspec.UNSET
    selective_logic: int | str | msgspec.UnsetType = msgspec.UNSET
    insertion_order: Order | msgspec.UnsetType = msgspec.UNSET
    priority: Order | msgspec.UnsetType | None = msgspec.UNSET
    position: int | str | msgspec.UnsetType = msgspec.UNSET
    depth: Depth | msgspec.UnsetType | None = msgspec.UNSET
    role: Role | msgspec.UnsetType | None = msgspec.UNSET
    case_sensitive: bool | msgspec.UnsetType | None = msgspec.UNSET
    match_whole_words: bool | msgspec.UnsetType | None = msgspec.UNSET
    use_regex: bool | msgspec.UnsetType = msgspec.UNSET
    probability: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    use_probability: bool | msgspec.UnsetType = msgspec.UNSET
    group: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    group_override: bool | msgspec.UnsetType = msgspec.UNSET
    group_weight: Count | msgspec.UnsetType = msgspec.UNSET
    use_group_scoring: bool | msgspec.UnsetType | None = msgspec.UNSET
    scan_depth: Depth | msgspec.UnsetType | None = msgspec.UNSET
    exclude_recursion: bool | msgspec.UnsetType = msgspec.UNSET
    prevent_recursion: bool | msgspec.UnsetType = msgspec.UNSET
    delay_until_recursion: bool | Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType = msgspec.UNSET
    sticky: Count | msgspec.UnsetType | None = msgspec.UNSET
    cooldown: Count | msgspec.UnsetType | None = msgspec.UNSET
    delay: Count | msgspec.UnsetType | None = msgspec.UNSET
    vectorized: bool | msgspec.UnsetType = msgspec.UNSET
    ignore_budget: bool | msgspec.UnsetType = msgspec.UNSET
    automation_id: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    display_index: Order | msgspec.UnsetType | None = msgspec.UNSET


BookName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
BookDescription = Annotated[str, msgspec.Meta(max_length=4_000)]


class BookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: BookName
    description: BookDescription = ""
    scan_depth: Depth | None = None
    token_budget: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | None = None
    recursive_scanning: bool = True
    entries: Annotated[list[EntryFields], msgspec.Meta(max_length=MAX_ENTRIES_PER_REQUEST)] = msgspec.field(
        default_factory=list
    )


class BookPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    name: BookName | msgspec.UnsetType = msgspec.UNSET
    description: BookDescription | msgspec.UnsetType = msgspec.UNSET
    scan_depth: Depth | msgspec.UnsetType | None = msgspec.UNSET
    token_budget: Annotated[int, msgspec.Meta(ge=0, le=10000000)] | msgspec.UnsetType | None = msgspec.UNSET
    recursive_scanning: bool | msgspec.UnsetType = msgspec.UNSET


LinkScope = Literal["global", "persona", "conversation"]


class LinkIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Attach a book: to every chat of the caller (`global`), to a persona's chats, or to one chat."""

    scope: LinkScope
    target_id: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Link(msgspec.Struct, kw_only=True):
    lorebook_id: str
    scope: LinkScope
    target_id: str  # the user, persona or conversation
    created_at: str


class LinkList(msgspec.Struct):
    items: list[Link]


class AppliedBook(msgspec.Struct, kw_only=True):
    """A book that takes part in a chat's World Info, and why (`character`, `chat`, `persona`, `global`)."""

    id: str
    name: str
    source: str
    entry_count: int


class AppliedBookList(msgspec.Struct):
    items: list[AppliedBook]


InsertionStrategy = Literal["evenly", "character_first", "global_first"]


class LoreSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A user's World Info activation settings (SillyTavern's "Activation Settings"), for all their chats.
    Entry and book settings override the matching ones here."""

    scan_depth: Depth = 2
    budget_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] = 25  # of the model's context
    budget_cap: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0  # absolute tokens; 0 = no cap
    min_activations: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    min_activations_depth_max: Depth = 0  # 0 = up to the whole chat
    max_recursion_steps: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0  # 0 = until nothing new fires
    recursive: bool = True
    case_sensitive: bool = False
    match_whole_words: bool = False
    use_group_scoring: bool = False
    insertion_strategy: InsertionStrategy = "character_first"
    # Where entries without an @depth position go, in messages from the end of a reply's prompt (see
    # activation.py). 1: just before the message being answered, after the character's last message, so when the
    # new message fires other entries the reply re-reads the lore and that message, not the character's last
    # reply as well (at 2 it did: ~60 more tokens read while the user waits). benchmarks.chat_engine (b), 3 s
    # between turns, three runs against two: TTFT at turns 28 and 30 of a long chat 1.12-2.24 s -> 0.77-1.20 s,
    # at turns 3-4 0.53-0.78 s -> 0.35-0.53 s.
    depth: Annotated[int, msgspec.Meta(ge=0, le=100)] = 1
    vector_enabled: bool = False
    vector_all_entries: bool = False  # False: only entries marked `vectorized`
    vector_threshold: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] = 0.5
    vector_max_entries: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    vector_query_messages: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2


class LoreSettingsPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    scan_depth: Depth | msgspec.UnsetType = msgspec.UNSET
    budget_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType = msgspec.UNSET
    budget_cap: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | msgspec.UnsetType = msgspec.UNSET
    min_activations: Annotated[int, msgspec.Meta(ge=0, le=1000)] | msgspec.UnsetType = msgspec.UNSET
    min_activations_depth_max: Depth | msgspec.UnsetType = msgspec.UNSET
    max_recursion_steps: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    recursive: bool | msgspec.UnsetType = msgspec.UNSET
    case_sensitive: bool | msgspec.UnsetType = msgspec.UNSET
    match_whole_words: bool | msgspec.UnsetType = msgspec.UNSET
    use_group_scoring: bool | msgspec.UnsetType = msgspec.UNSET
    insertion_strategy: InsertionStrategy | msgspec.UnsetType = msgspec.UNSET
    depth: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    vector_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    vector_all_entries: bool | msgspec.UnsetType = msgspec.UNSET
    vector_threshold: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] | msgspec.UnsetType = msgspec.UNSET
    vector_max_entries: Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType = msgspec.UNSET
    vector_query_messages: Annotated[int, msgspec.Meta(ge=1, le=50)] | msgspec.UnsetType = msgspec.UNSET


# -- why an entry fired ---------------------------------------------------------------------------------------


class FiredEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One activated entry in the prompt and the reason it fired, for the prompt view."""

    entry_id: str
    book_id: str
    book: str  # the book's name
    source: str  # character | chat | persona | global
    title: str  # the entry's comment, name or first key
    reason: str  # key | constant | sticky | recursion | vector | decorator | min_activations
    why: str  # one line for people: "key 'dragon' in message 1 (the latest)"
    key: str | None = None
    similarity: float | None = None
    from_entry: str | None = None  # recursion: the entry whose content held the key
    tokens: int = 0
