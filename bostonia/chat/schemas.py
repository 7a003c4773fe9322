from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from bostonia.llm.base import SamplerSettings

Role = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "partial"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Title = Annotated[str, msgspec.Meta(max_length=200)]
# Who speaks next in a group chat (see bostonia/chat/group.py), and how the cards go into the prompt.
Strategy = Literal["natural", "list", "pooled", "manual"]
CardMode = Literal["swap", "join"]
Talkativeness = Annotated[float, msgspec.Meta(ge=0, le=1)]
MAX_MEMBERS = 16


class AutoMode(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Characters continue among themselves: after each reply, `delay_seconds` later (pushed back while
    someone types), at most `max_turns` replies in a row after a person last spoke."""

    enabled: bool = False
    delay_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 5.0
    max_turns: Annotated[int, msgspec.Meta(ge=1, le=50)] = 3


class GroupSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A group chat's own settings (stored as JSON on the conversation; shown flat on `Conversation`)."""

    strategy: Strategy = "natural"
    card_mode: CardMode = "swap"
    include_muted: bool = True  # join mode: muted members' cards stay in the prompt
    allow_self_responses: bool = False  # may a character answer its own message (auto-mode)
    scenario: Annotated[str, msgspec.Meta(max_length=20_000)] = ""  # replaces the cards' scenarios
    auto_mode: AutoMode = msgspec.field(default_factory=AutoMode)


class Member(msgspec.Struct, kw_only=True):
    """A character of a conversation. `talkativeness` (0-1) is the chance it speaks up unprompted in the
    natural strategy: the card's `extensions.talkativeness` unless the group overrides it."""

    character_id: str
    name: str
    muted: bool = False
    talkativeness: float = 0.5


class Speaker(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who says a message: a character (`character_id`) or a person (`user_id`), and the name shown."""

    character_id: str | None = None
    user_id: str | None = None
    name: str | None = None


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
    # The characters (one, or a group's cast in list order) and the group's settings.
    is_group: bool = False
    members: list[Member] = msgspec.field(default_factory=list)
    strategy: Strategy = "natural"
    card_mode: CardMode = "swap"
    include_muted: bool = True
    allow_self_responses: bool = False
    scenario: str = ""
    auto_mode: AutoMode = msgspec.field(default_factory=AutoMode)
    people_count: int = 1  # the owner and everyone invited in: more than one makes it a shared room


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
    # The speaker: the character of a reply, the person who wrote a user message (and the name shown
    # then: their persona's, or the character's).
    character_id: str | None = None
    user_id: str | None = None
    speaker_name: str | None = None
    ooc: bool = False  # out of character: shown to the room, never sent to the model


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


class MemberChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    character_id: Id
    muted: bool = False
    talkativeness: Talkativeness | None = None  # None: the card's own


class CreateConversation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One character (`character_id`), or a group: `character_ids` with two or more."""

    character_id: Id | None = None
    character_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_MEMBERS)] | None = None
    persona_id: Id | None = None
    name: Title | None = None  # a group's name (its title)
    strategy: Strategy | None = None
    card_mode: CardMode | None = None
    include_muted: bool | None = None
    allow_self_responses: bool | None = None
    scenario: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None
    auto_mode: AutoMode | None = None


class UpdateConversation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title | None = None
    is_archived: bool | None = None
    # "" detaches the conversation's persona: it speaks as the user's default one again.
    persona_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    settings: SamplerSettings | None = None
    # A group's cast, in order: characters missing from the list leave, new ones join (a system note
    # says so); the rest keep their place with the mute and talkativeness given.
    members: Annotated[list[MemberChange], msgspec.Meta(min_length=1, max_length=MAX_MEMBERS)] | None = None
    strategy: Strategy | None = None
    card_mode: CardMode | None = None
    include_muted: bool | None = None
    allow_self_responses: bool | None = None
    scenario: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None
    auto_mode: AutoMode | None = None

    def group_changes(self) -> dict[str, Any]:
        """The group settings this change sets (the cast aside)."""
        names = ("strategy", "card_mode", "include_muted", "allow_self_responses", "scenario", "auto_mode")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1)]
    ooc: bool = False  # out of character (also: a message written `(( like this ))`)


class EditMessage(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1)]


class BranchRequest(msgspec.Struct, forbid_unknown_fields=True):
    message_id: Id


class Exchange(msgspec.Struct, kw_only=True):
    user_message: Message | None
    # None when no one replies now: an out-of-character message, a manual group, or (in a shared room) a
    # reply queued behind others — it streams to the room's sockets and pages when its turn comes.
    assistant_message: Message | None
    queued: int = 0  # replies ahead of this one's


class Trigger(msgspec.Struct, forbid_unknown_fields=True):
    character_id: Id


class PathChange(msgspec.Struct, kw_only=True):
    """The conversation's active path after a swipe, edit or delete: its last message."""

    conversation_id: str
    leaf_id: str | None


# -- shared rooms -------------------------------------------------------------------------------------


class Person(msgspec.Struct, kw_only=True):
    user_id: str
    display_name: str
    persona_name: str  # the name they speak as in this room
    role: Literal["owner", "member"]
    joined_at: str
    online: bool = False


class PeopleList(msgspec.Struct):
    items: list[Person]


class PersonChange(msgspec.Struct, forbid_unknown_fields=True):
    persona_id: Annotated[str, msgspec.Meta(max_length=64)]  # "" for the default persona


class InviteRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A link anyone holding it may use, or (`email`) an invitation only that account can accept."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)] | None = None
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 30)] = 72


class InviteCreated(msgspec.Struct, kw_only=True):
    id: str
    token: str  # shown once: only its hash is stored
    url: str
    expires_at: str
    invitee_id: str | None = None


class Invite(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    created_at: str
    expires_at: str
    uses: int
    revoked: bool
    invitee_name: str | None = None


class InviteList(msgspec.Struct):
    items: list[Invite]


class PendingInvite(msgspec.Struct, kw_only=True):
    """An invitation addressed to the caller."""

    id: str
    conversation_id: str
    title: str
    inviter_name: str
    expires_at: str


class PendingInviteList(msgspec.Struct):
    items: list[PendingInvite]


class AcceptInvite(msgspec.Struct, forbid_unknown_fields=True):
    persona_id: Id | None = None


class RoomJoined(msgspec.Struct, kw_only=True):
    """An accepted invitation: the room, and its page."""

    conversation_id: str
    url: str
