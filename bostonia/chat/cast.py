"""The characters of a conversation: starting a group chat, changing its cast and settings, choosing who
speaks next and the stage (prompt parts) they speak on.

A conversation with one character is a cast of one; a group chat has two or more (and may later gain or
lose members: a system note in the chat says so). The strategies are in `group.py`, the prompt parts in
`stage.py`; this service loads what they need.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import msgspec

from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.chat import events, group
from bostonia.chat.hub import ConversationHub
from bostonia.chat.room_store import RoomStore
from bostonia.chat.rooms import RoomService
from bostonia.chat.schemas import (
    Conversation,
    CreateConversation,
    GroupSettings,
    MemberChange,
    Message,
    UpdateConversation,
)
from bostonia.chat.service import ChatService
from bostonia.chat.stage import CastCard, Stage, parse_time, stage_for
from bostonia.chat.store import ConversationStore
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User
from bostonia.prompt.group import names_list
from bostonia.prompt.macros import MacroContext, expand_with

GROUP_FIELDS = ("strategy", "card_mode", "include_muted", "allow_self_responses", "scenario", "auto_mode")


class CastService:
    def __init__(
        self,
        chat: ChatService,
        conversations: ConversationStore,
        rooms: RoomStore,
        room_service: RoomService,
        characters: CharacterService,
        hub: ConversationHub,
    ) -> None:
        self.chat = chat
        self.conversations = conversations
        self.rooms = rooms
        self.room_service = room_service
        self.characters = characters
        self.hub = hub
        # Told after a group's settings change (auto-mode switched on starts the characters talking).
        self.settings_listeners: list[Callable[[User, Conversation], None]] = []

    # -- starting and changing a group ---------------------------------------------------------------------

    async def start(self, user: User, data: CreateConversation) -> Conversation:
        """A conversation with `character_id`, or with `character_ids` (two or more: a group chat)."""
        ids = list(dict.fromkeys(data.character_ids or []))
        if data.character_id is not None and data.character_ids is not None:
            raise InvalidInput("give character_id or character_ids, not both", details={"field": "character_ids"})
        if data.character_id is None and not ids:
            raise InvalidInput("character_id or character_ids is required", details={"field": "character_id"})
        if data.character_ids is None or len(ids) == 1:
            if any(getattr(data, name) is not None for name in GROUP_FIELDS):
                raise InvalidInput("group settings need two or more characters", code="not_a_group")
            return await self.chat.start_conversation(user, data.character_id or ids[0], data.persona_id)
        members = [await self.characters.get(user, character_id) for character_id in ids]
        if data.persona_id is not None:
            await self.chat.personas.get(user, data.persona_id)
        persona = await self.chat.personas.for_chat(user, data.persona_id)
        settings = GroupSettings(**{n: getattr(data, n) for n in GROUP_FIELDS if getattr(data, n) is not None})
        all_names = names_list([m.name for m in members])
        greetings = []
        for member in members:
            text = (member.group_only_greetings or [member.greeting])[0]
            macros = MacroContext(char=member.nickname or member.name, user=persona.name, group=all_names)
            if text.strip():
                greetings.append((member.id, expand_with(text, macros)))
        return await self.conversations.create_group(
            user_id=user.id,
            character_ids=[m.id for m in members],
            greetings=greetings,
            group=settings,
            title=" ".join((data.name or all_names).split())[:200],
            persona_id=data.persona_id,
        )

    async def update(self, user: User, conversation_id: str, changes: UpdateConversation) -> Conversation:
        """Title, persona, sampler settings (the chat service's), and a group's cast and settings."""
        conversation = await self.chat.get_conversation(user, conversation_id)
        group_changes = changes.group_changes()
        if (group_changes or changes.members is not None) and not (
            conversation.is_group or (changes.members is not None and len(changes.members) > 1)
        ):
            raise InvalidInput("only a group chat has members and group settings", code="not_a_group")
        if changes.members is not None:
            await self._set_cast(user, conversation, changes.members)
        if group_changes or (changes.members is not None and not conversation.is_group):
            current = (
                GroupSettings(**{name: getattr(conversation, name) for name in GROUP_FIELDS})
                if conversation.is_group
                else GroupSettings()
            )
            await self.rooms.set_group(conversation_id, msgspec.structs.replace(current, **group_changes))
        base = msgspec.structs.replace(changes, members=None, **dict.fromkeys(GROUP_FIELDS))
        updated = await self.chat.update_conversation(user, conversation_id, base)
        if group_changes or changes.members is not None:
            for listener in self.settings_listeners:
                listener(user, updated)
        return updated

    async def _set_cast(self, user: User, conversation: Conversation, members: Sequence[MemberChange]) -> None:
        ids = [m.character_id for m in members]
        if not ids:
            raise InvalidInput("a group keeps at least one character", details={"field": "members"})
        if len(set(ids)) != len(ids):
            raise InvalidInput("a character is listed twice", details={"field": "members"})
        before = {m.character_id: m for m in conversation.members}
        names = {}
        for character_id in ids:
            if character_id in before:
                names[character_id] = before[character_id].name
            else:  # a new member must be one the owner may chat with
                names[character_id] = (await self.characters.get(user, character_id)).name
        await self.rooms.set_cast(conversation.id, members)
        joined = [cid for cid in ids if cid not in before]
        left = [cid for cid in before if cid not in ids]
        notes = [f"{names[cid]} joined the chat." for cid in joined]
        notes += [f"{before[cid].name} left the chat." for cid in left]
        for note in notes:
            message = await self.conversations.append(
                conversation_id=conversation.id, parent_id=None, role="system", content=note, chain=True
            )
            self.hub.publish(conversation.id, events.received(message))
            self.chat.messages_changed(conversation.id, [message.id])

    # -- who speaks, and on which stage --------------------------------------------------------------------

    async def cards(self, conversation: Conversation) -> list[CastCard]:
        return [
            CastCard(m.character_id, await self.characters.of_conversation(m.character_id), m.muted)
            for m in conversation.members
        ]

    async def member(self, conversation: Conversation, character_id: str) -> Character:
        """A member's card (NotFound for a character not in the cast)."""
        if character_id not in {m.character_id for m in conversation.members}:
            raise NotFound("that character is not in this chat", code="not_a_member")
        return await self.characters.of_conversation(character_id)

    async def speaker_of(self, conversation: Conversation, message: Message) -> Character:
        """Who said `message` (a reply): regenerating or continuing it gives it to the same character."""
        character_id = message.character_id or conversation.character_id
        return await self.characters.of_conversation(character_id)

    async def pick(
        self, conversation: Conversation, history: Sequence[Message], rng: random.Random | None = None
    ) -> Character | None:
        """Who speaks next after `history` by the group's strategy (None: nobody now)."""
        context = group.turn_context(history)
        chosen = group.pick_speaker(
            conversation.strategy,
            conversation.members,
            context,
            allow_self_responses=conversation.allow_self_responses or not conversation.is_group,
            rng=rng,
        )
        return await self.characters.of_conversation(chosen) if chosen else None

    async def likely_speaker(self, conversation: Conversation, history: Sequence[Message]) -> Character:
        """The speaker whose prompt is worth preparing while people type."""
        chosen = group.likely_speaker(conversation.strategy, conversation.members, group.turn_context(history))
        return await self.characters.of_conversation(chosen or conversation.character_id)

    async def stage(
        self, user: User, conversation: Conversation, speaker: Character, history: Sequence[Message]
    ) -> Stage:
        """The prompt parts for `speaker`'s reply to `history`, sent on behalf of `user`."""
        cast = await self.cards(conversation)
        on_stage = next((c for c in cast if c.character_id == speaker.id), CastCard(speaker.id, speaker))
        last_user = next((m for m in reversed(history[:-1]) if m.role == "user"), None)
        return stage_for(
            conversation,
            on_stage,
            cast,
            await self.room_service.room_people(conversation),
            await self.room_service.persona_of(user, conversation),
            last_user_message_at=parse_time(last_user.created_at) if last_user else None,
        )

    async def lorebooks(self, conversation: Conversation) -> list[str]:
        """The lorebooks of every member's card (World Info reads them all in a group)."""
        books = []
        for member in conversation.members:
            book = (await self.characters.of_conversation(member.character_id)).lorebook_id
            if book:
                books.append(book)
        return books
