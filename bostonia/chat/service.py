"""Conversations and their message tree: ownership, swipes, edits, deletes, branches, search.

Generating replies is `chat.replies.ReplyService`; this service owns everything else a user does to a
conversation. Every change that alters what a conversation shows is published to the hub, so other
tabs and sockets follow.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import msgspec

from bostonia.analytics.recorder import DiscardingSink, EventSink
from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.chat import events, transfer
from bostonia.chat.hub import ConversationHub
from bostonia.chat.room_store import RoomStore
from bostonia.chat.schemas import (
    MAX_MEMBERS,
    Conversation,
    GroupSettings,
    Member,
    Message,
    PathChange,
    SearchHit,
    UpdateConversation,
)
from bostonia.chat.stage import speaker_session
from bostonia.chat.store import ConversationStore
from bostonia.chat.streams import RepliesInFlight
from bostonia.config import LLMConfig
from bostonia.db import sqlite3
from bostonia.errors import Conflict, InvalidInput, NotFound
from bostonia.identity import User
from bostonia.personas.service import PersonaService
from bostonia.prompt.macros import MacroContext, expand_with
from bostonia.users.privacy import Access, ConversationAccessPolicy

log = logging.getLogger(__name__)
MAX_PAGE = 10_000


class MessageListener(Protocol):
    """Told when a conversation's messages change, so that other capabilities (memory's recall index)
    can follow without chat knowing them: app.py appends them to `ChatService.listeners`."""

    def messages_changed(self, conversation_id: str, message_ids: Sequence[str] | None = None) -> None:
        """Messages were stored, edited or deleted; `message_ids` are those stored or edited when known
        (None: many at once, e.g. an import). Called on the event loop: must return at once."""
        ...


class ConversationGate(Protocol):
    """Who may start a conversation with a character beyond seeing it (premium characters: creators)."""

    async def ensure_can_chat(self, user: User, character: Character) -> None:
        """Raise a domain error (PaymentRequired) to refuse."""
        ...


class GreetingChoice(Protocol):
    @property
    def greeting_index(self) -> int: ...

    @property
    def variant(self) -> str: ...

    def record_in(self, conn: sqlite3.Connection, conversation_id: str) -> None:
        """Record the choice in the new conversation's transaction."""
        ...


class GreetingSplit(Protocol):
    """Greeting A/B tests (creators): which greeting a new conversation shows first, if a test runs."""

    async def assign(self, character_id: str) -> GreetingChoice | None: ...


class ChatService:
    def __init__(
        self,
        conversations: ConversationStore,
        characters: CharacterService,
        personas: PersonaService,
        hub: ConversationHub,
        config: LLMConfig,
        forget_session: Callable[[str], None] = lambda conversation_id: None,
        *,
        in_flight: RepliesInFlight | None = None,
        access: ConversationAccessPolicy | None = None,
        gate: ConversationGate | None = None,
        greeting_split: GreetingSplit | None = None,
        analytics: EventSink | None = None,
        rooms: RoomStore | None = None,
    ) -> None:
        self.conversations = conversations
        self.gate = gate
        self.greeting_split = greeting_split
        self.analytics = analytics or DiscardingSink()
        self.access = access
        self.rooms = rooms  # who was invited into shared rooms (they read and take part, the owner manages)
        self.characters = characters
        self.personas = personas
        self.hub = hub
        self.config = config
        self.forget_session = forget_session  # models drop cached state of deleted conversations
        # Conversations with a reply being generated (the reply service keeps it): no edits meanwhile.
        self.in_flight = in_flight if in_flight is not None else RepliesInFlight()
        self.listeners: list[MessageListener] = []

    def messages_changed(self, conversation_id: str, message_ids: Sequence[str] | None = None) -> None:
        """Tell every listener (see `MessageListener`); a failing listener never fails the chat action."""
        for listener in self.listeners:
            try:
                listener.messages_changed(conversation_id, message_ids)
            except Exception:
                log.exception("a message listener failed")

    # -- conversations ---------------------------------------------------------------------------

    async def start_conversation(self, user: User, character_id: str, persona_id: str | None = None) -> Conversation:
        character = await self.characters.get(user, character_id)
        if self.gate is not None:
            await self.gate.ensure_can_chat(user, character)
        if persona_id is not None:
            await self.personas.get(user, persona_id)
        persona = await self.personas.for_chat(user, persona_id)
        macros = MacroContext(char=character.nickname or character.name, user=persona.name)
        # The card's alternate greetings are swipes of the first message.
        greetings = [expand_with(text, macros) for text in [character.greeting, *character.alternate_greetings]]
        ab_test = await self.greeting_split.assign(character.id) if self.greeting_split else None
        conversation = await self.conversations.create(
            user_id=user.id,
            character_id=character.id,
            greetings=greetings,
            persona_id=persona_id,
            shown_greeting=ab_test.greeting_index if ab_test else 0,
            also_in_transaction=ab_test.record_in if ab_test else None,
        )
        self.analytics.record(
            "conversation_started",
            user_id=user.id,
            character_id=character.id,
            greeting_variant=ab_test.variant if ab_test else None,
        )
        return conversation

    async def list_conversations(
        self, user: User, *, character_id: str | None = None, archived: bool | None = None
    ) -> list[Conversation]:
        return await self.conversations.list_for_user(user.id, character_id=character_id, archived=archived)

    async def recently_active(self, since: str, *, limit: int) -> list[tuple[str, str]]:
        """For the server's own work: `(conversation id, owner id)` of the conversations with a message since
        `since`, the latest first."""
        return await self.conversations.recently_active(since, limit=limit)

    async def get_conversation(self, user: User, conversation_id: str, *, access: Access = "write") -> Conversation:
        """The user's own conversation (`write`: managing it is the owner's alone). People invited into a
        shared room may `read` it and take part (`member`: send, regenerate, swipe...). Anyone else is told
        it is missing: ids are not probeable. Only the access policy may let an admin `read` another
        user's conversation (audit-logged)."""
        conversation = await self.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound("conversation not found")
        if conversation.user_id == user.id:
            return conversation
        if (
            access in ("read", "member")
            and self.rooms is not None
            and await self.rooms.is_member(conversation.id, user.id)
        ):
            return conversation
        if self.access is None or not await self.access.allows(
            user, owner_id=conversation.user_id, conversation_id=conversation.id, access=access
        ):
            raise NotFound("conversation not found")
        return conversation

    async def character_of(self, conversation: Conversation) -> Character:
        """The card of a conversation the caller has opened (even if since made private or deleted)."""
        return await self.characters.of_conversation(conversation.character_id)

    async def path_to(self, user: User, conversation_id: str, message_id: str) -> list[Message]:
        """The messages from the start of the conversation down to `message_id`."""
        await self.get_conversation(user, conversation_id, access="read")
        return await self.conversations.path_to(message_id)

    async def publish_typing(
        self, user: User, conversation_id: str, *, active: bool, sender: str | None = None, name: str = ""
    ) -> None:
        """Tell the conversation's other listeners (tabs, sockets, the room) that `user` types, or stopped."""
        await self.get_conversation(user, conversation_id, access="member")
        event = events.typing(conversation_id, user.id, active=active, name=name or user.display_name)
        self.hub.publish(conversation_id, event, sender=sender)

    async def update_conversation(self, user: User, conversation_id: str, changes: UpdateConversation) -> Conversation:
        await self.get_conversation(user, conversation_id)
        fields: dict[str, Any] = {}
        if changes.title is not None:
            fields["title"] = " ".join(changes.title.split())
        if changes.is_archived is not None:
            fields["is_archived"] = int(changes.is_archived)
        if changes.persona_id is not None:
            # "" detaches the persona (back to the default one).
            if changes.persona_id:
                await self.personas.get(user, changes.persona_id)
            fields["persona_id"] = changes.persona_id or None
        if changes.settings is not None:
            fields["settings"] = msgspec.to_builtins(changes.settings)
        await self.conversations.update(conversation_id, fields)
        conversation = await self.get_conversation(user, conversation_id)
        self.hub.publish(conversation_id, events.conversation_updated(conversation))
        return conversation

    async def delete_conversation(self, user: User, conversation_id: str) -> None:
        conversation = await self.get_conversation(user, conversation_id)
        self.ensure_idle(conversation_id)
        await self.conversations.delete(conversation_id)
        for session in model_sessions(conversation):
            self.forget_session(session)

    async def search(self, user: User, query: str) -> list[SearchHit]:
        if not query.strip():
            raise InvalidInput("q must not be blank", details={"field": "q"})
        return await self.conversations.search(user.id, query)

    async def family(self, user: User, conversation_id: str) -> list[Conversation]:
        conversation = await self.get_conversation(user, conversation_id, access="read")
        if conversation.user_id != user.id and not user.is_admin:  # a room's guests see the room, not its branches
            return [conversation]
        return [c for c in await self.conversations.family(conversation_id) if c.user_id == conversation.user_id]

    # -- messages ----------------------------------------------------------------------------------

    async def messages(
        self, user: User, conversation_id: str, *, limit: int | None = None, before: str | None = None
    ) -> tuple[list[Message], bool]:
        """The active path, oldest first (a page of it with `limit`/`before`), and whether more exist."""
        await self.get_conversation(user, conversation_id, access="read")
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", details={"field": "limit"})
        page = await self.conversations.active_path(conversation_id, limit=limit, before=before)
        if page is None:
            raise NotFound("no message with this id on the conversation's active path")
        return page

    async def message(self, user: User, conversation_id: str, message_id: str, *, access: Access = "write") -> Message:
        await self.get_conversation(user, conversation_id, access=access)
        message = await self.conversations.get_message(message_id)
        if message is None or message.conversation_id != conversation_id:
            raise NotFound("message not found")
        return message

    async def siblings(self, user: User, conversation_id: str, message_id: str) -> list[Message]:
        return await self.conversations.siblings(await self.message(user, conversation_id, message_id, access="read"))

    async def select(self, user: User, conversation_id: str, message_id: str) -> PathChange:
        """Show this message (a swipe, or a message on another branch): the path follows its newest line."""
        await self.message(user, conversation_id, message_id, access="member")
        self.ensure_idle(conversation_id)
        leaf = await self.conversations.select(conversation_id, message_id)
        return self._path_changed(conversation_id, leaf)

    async def swipe(
        self, user: User, conversation_id: str, message_id: str, direction: Literal["left", "right"]
    ) -> PathChange:
        siblings = await self.conversations.siblings(
            await self.message(user, conversation_id, message_id, access="member")
        )
        index = next(i for i, sibling in enumerate(siblings) if sibling.id == message_id)
        target = index - 1 if direction == "left" else index + 1
        if not 0 <= target < len(siblings):
            raise InvalidInput(f"no swipe to the {direction} of this message", code="no_more_swipes")
        return await self.select(user, conversation_id, siblings[target].id)

    async def edit(self, user: User, conversation_id: str, message_id: str, content: str) -> Message:
        """The owner edits any message; someone invited into the room, only their own."""
        message = await self.message(user, conversation_id, message_id, access="member")
        conversation = await self.get_conversation(user, conversation_id, access="member")
        if conversation.user_id != user.id and message.user_id != user.id:
            raise NotFound("message not found")
        self.ensure_idle(conversation_id)
        content = self.valid_content(content)
        updated = await self.conversations.set_content(message.id, content, edited=True)
        self.messages_changed(conversation_id, [message.id])
        self.hub.publish(conversation_id, events.message_updated(updated))
        return updated

    async def delete_message(self, user: User, conversation_id: str, message_id: str) -> PathChange:
        """Delete a message and everything that followed it on its branch."""
        message = await self.message(user, conversation_id, message_id)
        self.ensure_idle(conversation_id)
        leaf = await self.conversations.delete_message(message)
        self.messages_changed(conversation_id)
        return self._path_changed(conversation_id, leaf)

    async def branch(self, user: User, conversation_id: str, message_id: str) -> Conversation:
        """A new conversation that shares this one's history up to (and including) `message_id`."""
        conversation = await self.get_conversation(user, conversation_id)
        await self.message(user, conversation_id, message_id)
        path = await self.conversations.path_to(message_id)
        title = f"{conversation.title or conversation.character_name} (branch)"
        self.analytics.record("feature_used", user_id=user.id, character_id=conversation.character_id, feature="branch")
        branch = await self.conversations.branch(conversation, path, title=title[:200])
        self.messages_changed(branch.id)
        return branch

    # -- files -----------------------------------------------------------------------------------------

    async def export(self, user: User, conversation_id: str, format: str) -> tuple[str, str, str]:
        """(body, media type, file name) of the conversation in `format`: jsonl, txt or json."""
        conversation = await self.get_conversation(user, conversation_id, access="read")
        self.analytics.record("feature_used", user_id=user.id, feature=f"export_{format}"[:20])
        persona = await self.personas.for_chat(user, conversation.persona_id)
        stem = _file_stem(conversation)
        metadata = await self.conversations.conversation_metadata(conversation_id)
        if format == "json":
            messages = await self.conversations.all_messages(conversation_id)
            leaf = await self.conversations.active_leaf(conversation_id)
            body = transfer.bostonia_json(conversation, messages, active_leaf_id=leaf, metadata=metadata)
            return msgspec.json.encode(body).decode(), "application/json", f"{stem}.json"
        path = await self.conversations.path(conversation_id)
        name_of = _speaker_names(conversation, persona.name)
        if format == "txt":
            text = transfer.plain_text(
                path, user_name=persona.name, character_name=conversation.character_name, name_of=name_of
            )
            return text, "text/plain; charset=utf-8", f"{stem}.txt"
        if format == "jsonl":
            swipes = {m.id: await self.conversations.siblings(m) for m in path if m.sibling_count > 1}
            chat_metadata = metadata.get("sillytavern", {}).get("chat_metadata", {})
            text = transfer.sillytavern_jsonl(
                conversation,
                path,
                swipes,
                user_name=persona.name,
                character_name=conversation.title if conversation.is_group else conversation.character_name,
                chat_metadata=chat_metadata,
                name_of=name_of,
            )
            return text, "application/jsonl; charset=utf-8", f"{stem}.jsonl"
        raise InvalidInput("format must be one of jsonl, txt, json", details={"field": "format"})

    async def import_chat(self, user: User, character_ids: str | Sequence[str], data: bytes) -> Conversation:
        """A new conversation from a SillyTavern JSONL or Bostonia JSON file, with one character, or (two or
        more ids) a group chat whose replies go to the members their lines name."""
        ids = list(dict.fromkeys([character_ids] if isinstance(character_ids, str) else character_ids))
        if not ids or not all(ids):
            raise InvalidInput("character_id is required", details={"field": "character_id"})
        if len(ids) > MAX_MEMBERS:
            raise InvalidInput(f"a group has at most {MAX_MEMBERS} characters", details={"field": "character_ids"})
        characters = [await self.characters.get(user, character_id) for character_id in ids]
        parsed = transfer.parse_chat_file(data)
        self.analytics.record("feature_used", user_id=user.id, character_id=ids[0], feature="import_chat")
        for message in parsed.messages:
            if len(message.content) > 10 * self.config.max_message_chars:
                raise InvalidInput("a message in the file is too long", code="message_too_long")
        if parsed.has_macros:
            persona = await self.personas.for_chat(user, None)
            names = MacroContext(char=characters[0].nickname or characters[0].name, user=persona.name)
            for message in parsed.messages:
                message.content = expand_with(message.content, names)
        members = [Member(character_id=c.id, name=c.name) for c in characters]
        transfer.assign_speakers(parsed.messages, members, user.id)
        conversation = await self.conversations.import_tree(
            user_id=user.id,
            character_id=characters[0].id,
            title=parsed.title,
            messages=parsed.messages,
            leaf_key=parsed.leaf_key,
            created_at=parsed.created_at,
            metadata={**parsed.metadata, "imported_file": file_digest(data)},
            cast=ids if len(ids) > 1 else (),
            group=GroupSettings() if len(ids) > 1 else None,
        )
        self.messages_changed(conversation.id)
        return conversation

    async def imported_before(self, user: User, data: bytes) -> str | None:
        """The id of the user's conversation imported from this very file, if there is one (a migration run
        again leaves what it brought over the first time)."""
        return await self.conversations.imported_from(user.id, file_digest(data))

    # -- helpers -------------------------------------------------------------------------------------

    def valid_content(self, content: str) -> str:
        content = content.strip()
        if not content:
            raise InvalidInput("message content must not be blank", details={"field": "content"})
        if len(content) > self.config.max_message_chars:
            raise InvalidInput(
                f"message is longer than {self.config.max_message_chars} characters",
                code="message_too_long",
                details={"field": "content"},
            )
        return content

    def ensure_idle(self, conversation_id: str) -> None:
        if conversation_id in self.in_flight:
            raise Conflict("a reply is being generated in this conversation; stop it first", code="reply_in_progress")

    def _path_changed(self, conversation_id: str, leaf: str | None) -> PathChange:
        change = PathChange(conversation_id=conversation_id, leaf_id=leaf)
        self.hub.publish(conversation_id, events.path_changed(conversation_id, leaf))
        return change


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _speaker_names(conversation: Conversation, persona_name: str) -> Callable[[Message], str] | None:
    """For a group chat or a shared room's export: each message's speaker by name (None: one-to-one)."""
    if not conversation.is_group and conversation.people_count <= 1:
        return None
    members = {m.character_id: m.name for m in conversation.members}

    def name_of(message: Message) -> str:
        if message.role == "assistant":
            return message.speaker_name or members.get(message.character_id or "") or conversation.character_name
        if message.role == "user":
            return message.speaker_name or persona_name
        return "System"

    return name_of


def model_sessions(conversation: Conversation) -> list[str]:
    """The model sessions (KV caches) a conversation's prompts use: one, and in a group one per member
    (swap mode prompts each speaker with its own card)."""
    return [conversation.id, *(speaker_session(conversation.id, m.character_id) for m in conversation.members)]


def _file_stem(conversation: Conversation) -> str:
    name = "".join(ch if ch.isalnum() or ch in " -_" else "" for ch in conversation.character_name).strip()
    return f"{name or 'chat'} - {conversation.created_at[:10]}"
