from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from bostonia.llm.base import SamplerSettings

Role = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "partial"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Title = Annotated[str, msgspec.Meta(max_length=200)]


class Conversation(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    character_id: str
    character_name: str
    persona_id: str | None
    title: str
    message_count: int
    is_archived: bool
    settings: SamplerSettings
    branched_from_id: str | None
    branched_from_message_id: str | None
    last_message_at: str | None
    created_at: str
    updated_at: str


class Message(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    parent_id: str | None
    role: Role
    content: str
    model_used: str | None
    tokens_used: int | None
    status: MessageStatus
    is_regeneration: bool
    created_at: str
    edited_at: str | None
    # What an imported message carried that Bostonia does not model (kept for a lossless export).
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # Swipes: how many alternatives share this message's parent, and which one this is (0-based).
    sibling_count: int = 1
    sibling_index: int = 0


class ConversationList(msgspec.Struct):
    items: list[Conversation]


class MessageList(msgspec.Struct, kw_only=True):
    items: list[Message]
    # More (older) messages exist before the first item: fetch them with `before=<first id>`.
    has_more: bool = False


class SearchHit(msgspec.Struct, kw_only=True):
    message_id: str
    conversation_id: str
    conversation_title: str
    character_name: str
    role: Role
    snippet: str
    created_at: str


class SearchResults(msgspec.Struct):
    items: list[SearchHit]


class CreateConversation(msgspec.Struct, forbid_unknown_fields=True):
    character_id: Id
    persona_id: Id | None = None


class UpdateConversation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title | None = None
    is_archived: bool | None = None
    # "" detaches the conversation's persona: it speaks as the user's default one again.
    persona_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    settings: SamplerSettings | None = None


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1)]


class EditMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1)]


class BranchRequest(msgspec.Struct, forbid_unknown_fields=True):
    message_id: Id


class Exchange(msgspec.Struct, kw_only=True):
    user_message: Message | None
    assistant_message: Message


class PathChange(msgspec.Struct, kw_only=True):
    """The conversation's active path after a swipe, edit or delete: its last message."""

    conversation_id: str
    leaf_id: str | None
