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
    source: str | None = None  # the file, for knowledge


class SearchResults(msgspec.Struct, kw_only=True):
    query: str
    items: list[SearchItem]


class IndexStatus(msgspec.Struct, kw_only=True):
    indexed_messages: int
    pending: int


class Memory(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    memory_type: MemoryKind
    content: str
    importance: float
    source_message_ids: list[str]
    is_pinned: bool
    origin: Literal["extracted", "user"]
    subject: str
    created_at: str
    updated_at: str


class NewFact(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A memory the user writes (pinned): "remember this"."""

    content: FactText
    memory_type: MemoryKind = "fact"
    importance: Importance = 0.8
    # The message it comes from ("remember this" on a message); must be the conversation's.
    source_message_ids: Annotated[list[str], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)
    is_pinned: bool = True


class FactChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    content: FactText | None = None
    memory_type: MemoryKind | None = None
    importance: Importance | None = None
    is_pinned: bool | None = None


class MemoryList(msgspec.Struct, kw_only=True):
    items: list[Memory]


class Summary(msgspec.Struct, kw_only=True):
    id: str
    content: str
    covers_from_message_id: str | None
    covers_until_message_id: str | None
    message_count: int
    created_at: str


class SummaryView(msgspec.Struct, kw_only=True):
    summary: Summary | None


class MemoryOverview(msgspec.Struct, kw_only=True):
    conversation_id: str
    memories: list[Memory]
    summary: Summary | None
    index: IndexStatus
    extraction_pending: int  # replies whose turn has not been extracted yet


class ExtractRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ExtractionStatus(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    status: Literal["queued", "running", "done", "failed"]
    turns_total: int
    turns_done: int
    proposed: int
    kept: int
    error: str | None
