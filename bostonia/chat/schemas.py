from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Role = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "partial"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Conversation(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    character_id: str
    character_name: str
    title: str
    message_count: int
    is_archived: bool
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


class ConversationList(msgspec.Struct):
    items: list[Conversation]


class MessageList(msgspec.Struct):
    items: list[Message]


class CreateConversation(msgspec.Struct, forbid_unknown_fields=True):
    character_id: Id


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1)]


class Exchange(msgspec.Struct, kw_only=True):
    user_message: Message
    assistant_message: Message


class ChatEvent(msgspec.Struct, frozen=True):
    """One event of the real-time protocol; the same names on SSE and WebSocket."""

    event: str
    data: dict[str, Any]
