"""The real-time protocol: every event name, and the payload each carries, in one module.

The same events travel over the WebSocket (`{"event", "data"}` frames), Server-Sent Events (`event:` +
JSON `data:`) and into the HTML fragments of open chat pages. A payload is a Struct, so a producer cannot
forget a field and a consumer can match on its type.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from bostonia.chat.schemas import Conversation, Message, Person

# Client -> server (WebSocket frames).
JOIN = "conversation:join"
LEAVE = "conversation:leave"
SEND = "message:send"
REGENERATE = "message:regenerate"
CONTINUE = "message:continue"
CANCEL = "message:cancel"
TRIGGER = "message:trigger"  # a character of the group speaks now
PING = "ping"
# Both ways: a client says it types; the room hears who does.
TYPING_START = "typing:start"
TYPING_STOP = "typing:stop"
# Server -> client.
JOINED = "conversation:joined"
RECEIVED = "message:received"
QUEUED = "message:queued"
STREAM_START = "message:stream:start"
STREAM_CHUNK = "message:stream:chunk"
STREAM_COMPLETE = "message:stream:complete"
STREAM_RETRACT = "message:stream:retract"  # moderation withdrew the text streamed so far; more may follow
STREAM_FALLBACK = "message:stream:fallback"  # a model failed and the next one of the route took over
MESSAGE_UPDATED = "message:updated"
PATH_CHANGED = "conversation:path_changed"
CONVERSATION_UPDATED = "conversation:updated"
ERROR = "error"
PONG = "pong"
# Shared rooms: who has the room open, who is in it, and (to one person) that they were removed.
PRESENCE = "presence"
PEOPLE = "room:people"
REMOVED = "room:removed"

ReplyMode = Literal["reply", "regenerate", "continue"]


class MessageReceived(msgspec.Struct, frozen=True):
    message: Message


class StreamStart(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    conversation_id: str
    parent_id: str | None
    mode: ReplyMode = "reply"
    prefix: str = ""  # the text a continued message already had
    # The speaker: the character writing the reply (in a group, the one whose turn it is).
    character_id: str | None = None
    speaker_name: str | None = None


class StreamChunk(msgspec.Struct, frozen=True):
    id: str
    content: str
    character_id: str | None = None  # the speaker, as on the stream's start


class StreamComplete(msgspec.Struct, frozen=True):
    message: Message


class StreamRetract(msgspec.Struct, frozen=True):
    id: str
    reason: str  # why, for the user
    character_id: str | None = None


class StreamFallback(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    from_model: str
    to_model: str
    reason: str  # error, rate_limited, timeout, unavailable
    notice: str  # what the user is told
    kept_chars: int  # of the text streamed so far, how much stays (the next model continues it)
    restarted: bool  # the next model starts over: drop what was streamed


class Queued(msgspec.Struct, frozen=True):
    id: str
    position: int  # replies that run before this one


class ErrorNotice(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    id: str | None = None  # the reply that failed, if one did
    conversation_id: str | None = None
    event: str | None = None  # the client event that failed (WebSocket)
    retry_after: int | None = None  # seconds, for `rate_limited`


class MessageUpdated(msgspec.Struct, frozen=True):
    message: Message


class PathChanged(msgspec.Struct, frozen=True):
    conversation_id: str
    leaf_id: str | None


class ConversationUpdated(msgspec.Struct, frozen=True):
    conversation: Conversation


class Typing(msgspec.Struct, frozen=True):
    conversation_id: str
    user_id: str
    name: str = ""  # the persona name they speak as in this conversation


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """Someone opened the room (`online`: their first connection) or left it (their last one closed or
    went silent past the presence timeout)."""

    conversation_id: str
    user_id: str
    name: str
    status: Literal["online", "offline"]


class PresentPerson(msgspec.Struct, frozen=True):
    user_id: str
    name: str


class PeopleChanged(msgspec.Struct, frozen=True):
    """Someone joined, left or was removed, or changed the persona they speak as."""

    conversation_id: str
    people: list[Person]


class Removed(msgspec.Struct, frozen=True):
    """To the person removed (or who left): the room's events stop here."""

    conversation_id: str
    user_id: str


class ActiveReply(msgspec.Struct, frozen=True):
    id: str
    content: str


class Joined(msgspec.Struct, frozen=True):
    conversation_id: str
    active_reply: ActiveReply | None
    present: list[PresentPerson] = msgspec.field(default_factory=list)  # who has the room open now


class ChatEvent(msgspec.Struct, frozen=True):
    """One event: its name and payload (one of the Structs above; `pong` echoes the client's object)."""

    event: str
    data: Any

    def frame(self) -> dict[str, Any]:
        return {"event": self.event, "data": self.data}


def received(message: Message) -> ChatEvent:
    return ChatEvent(RECEIVED, MessageReceived(message))


def stream_start(start: StreamStart) -> ChatEvent:
    return ChatEvent(STREAM_START, start)


def chunk(message_id: str, content: str, character_id: str | None = None) -> ChatEvent:
    return ChatEvent(STREAM_CHUNK, StreamChunk(message_id, content, character_id))


def complete(message: Message) -> ChatEvent:
    return ChatEvent(STREAM_COMPLETE, StreamComplete(message))


def retract(message_id: str, reason: str, character_id: str | None = None) -> ChatEvent:
    return ChatEvent(STREAM_RETRACT, StreamRetract(message_id, reason, character_id))


def fallback(notice: StreamFallback) -> ChatEvent:
    return ChatEvent(STREAM_FALLBACK, notice)


def queued(message_id: str, position: int) -> ChatEvent:
    return ChatEvent(QUEUED, Queued(message_id, position))


def error(notice: ErrorNotice) -> ChatEvent:
    return ChatEvent(ERROR, notice)


def message_updated(message: Message) -> ChatEvent:
    return ChatEvent(MESSAGE_UPDATED, MessageUpdated(message))


def path_changed(conversation_id: str, leaf_id: str | None) -> ChatEvent:
    return ChatEvent(PATH_CHANGED, PathChanged(conversation_id, leaf_id))


def conversation_updated(conversation: Conversation) -> ChatEvent:
    return ChatEvent(CONVERSATION_UPDATED, ConversationUpdated(conversation))


def typing(conversation_id: str, user_id: str, *, active: bool, name: str = "") -> ChatEvent:
    return ChatEvent(TYPING_START if active else TYPING_STOP, Typing(conversation_id, user_id, name))


def joined(
    conversation_id: str, active_reply: ActiveReply | None, present: list[PresentPerson] | None = None
) -> ChatEvent:
    return ChatEvent(JOINED, Joined(conversation_id, active_reply, present or []))


def presence(conversation_id: str, user_id: str, name: str, *, online: bool) -> ChatEvent:
    status: Literal["online", "offline"] = "online" if online else "offline"
    return ChatEvent(PRESENCE, Presence(conversation_id=conversation_id, user_id=user_id, name=name, status=status))


def people_changed(conversation_id: str, people: list[Person]) -> ChatEvent:
    return ChatEvent(PEOPLE, PeopleChanged(conversation_id, people))


def removed(conversation_id: str, user_id: str) -> ChatEvent:
    return ChatEvent(REMOVED, Removed(conversation_id, user_id))
