"""The memory API's shapes."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MemoryType = Literal["message", "fact", "relationship", "event", "preference", "knowledge"]
MemoryKind = Literal["fact", "relationship", "event", "preference"]
FactText = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Importance = Annotated[float, msgspec.Meta(ge=0, le=1)]


class SearchItem(msgspec.Struct, kw_only=True):
    content: str
    score: float
    memory_type: MemoryType
    source_message_ids: list[str]
    created_at: str
    role: str | None = None  # who said it, for messages
    memory_id: str | None = None  # for extracted or pinned memories


class SearchResults(msgspec.Struct, kw_only=True):
    query: str
    items: list[SearchItem]


class IndexStatus(msgspec.Struct, kw_only=True):
    indexed_messages: int
    pending: int
