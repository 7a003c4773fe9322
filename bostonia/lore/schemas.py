"""Lorebooks (SillyTavern World Info / card `character_book`) as Bostonia stores them.

An entry keeps the card's own fields as columns and its `extensions` verbatim (SillyTavern puts its World
Info settings there in snake_case: `depth`, `probability`, `match_whole_words`, ...). The columns
`selective_logic`, `depth`, `role`, `match_whole_words`, `probability` and `display_index` are derived from
those extensions when the entry is written, so lore activation can query them without parsing JSON.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Uid = int | str
ROLES = ("system", "user", "assistant")  # World Info `role` 0, 1, 2
# World Info `position`: 0 before the character, 1 after, 2/3 author's note top/bottom, 4 at a depth,
# 5/6 top/bottom of the example messages.
PLACEMENTS = ("before_char", "after_char", "an_top", "an_bottom", "at_depth", "em_top", "em_bottom")
ExportFormat = Literal["world_info", "lorebook_v3"]


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
