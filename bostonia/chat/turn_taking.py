"""When a reply starts, in group chats and shared rooms: the part of the reply service that takes turns.

A one-to-one chat starts its reply at once (and refuses a message while one is generated, as before). In a
group or a room every reply is a *turn*: a person's message to answer, a character asked to speak
(trigger, force talk), or auto-mode going on. A turn starts now if nothing is generated, else it waits
in `TurnQueue` and starts when the reply before it ends. Its speaker is chosen when it starts, from the
chat as it is then. The generation counts against the turn's user (rate limits, credits): the orchestrator
admits it for them when it starts (a queued turn's admission is freed and asked again then).

`ReplyService` mixes this in; it provides `_start` (generate one reply) and the attributes declared here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bostonia.characters.schemas import Character
from bostonia.chat import group
from bostonia.chat.cast import CastService
from bostonia.chat.events import ReplyMode
from bostonia.chat.schemas import Conversation, Message
from bostonia.chat.service import ChatService
from bostonia.chat.store import ConversationStore
from bostonia.chat.streams import RepliesInFlight, ReplyStream
from bostonia.chat.turns import Turn, TurnQueue
from bostonia.errors import BostoniaError, NotFound
from bostonia.identity import User
from bostonia.llm.base import ChatModel

if TYPE_CHECKING:
    from bostonia.orchestration.service import Orchestrator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """A message (or a request for a character to speak) that no reply started for: it is out of
    character, the group is manual, nobody could speak, or (`queued` > 0) its reply waits behind others
    and will stream to the room's sockets and pages when its turn comes."""

    user_message: Message | None
    queued: int = 0


def takes_turns(conversation: Conversation) -> bool:
    """A group chat or a shared room: messages sent while a reply is generated wait their turn (a
    one-to-one chat refuses them, as before)."""
    return conversation.is_group or conversation.people_count > 1


class TurnTaking:
    chat: ChatService
    conversations: ConversationStore
    orchestrator: Orchestrator
    cast: CastService
    turns: TurnQueue
    in_flight: RepliesInFlight
    _closing: bool

    async def _start(
        self,
        user: User,
        conversation: Conversation,
        route: list[ChatModel],
        history: list[Message],
        *,
        mode: ReplyMode,
        parent_id: str | None,
        user_message: Message | None = None,
        message_id: str | None = None,
        prefix: str = "",
        admitted: str | None = None,
        speaker: Character | None = None,
    ) -> ReplyStream:
        raise NotImplementedError  # the reply service's

    async def _route_of(self, user: User, conversation: Conversation) -> list[ChatModel]:
        raise NotImplementedError  # the reply service's

    async def trigger(self, user: User, conversation_id: str, character: str | None) -> ReplyStream | Pending:
        """A character of the chat speaks now (`character`: its id or name; None: the group's pick, or in
        manual mode any unmuted member) — forced even if muted. In a group or a shared room it waits for
        the reply being generated (`Pending`: queued)."""
        conversation = await self._open_conversation(user, conversation_id)
        route = await self._route_of(user, conversation)  # raises before anything is queued if there is no model
        if character is None:
            history = await self.conversations.path(conversation_id)
            chosen = await self.cast.pick(conversation, history) or await self.cast.likely_speaker(
                conversation, history
            )
            character_id = chosen.id
        else:
            member = group.find_member(conversation.members, character)
            if member is None:
                raise NotFound("that character is not in this chat", code="not_a_member")
            character_id = member.character_id
        return await self._take_turn(Turn(user, "trigger", character_id), conversation, route)

    async def _open_conversation(self, user: User, conversation_id: str) -> Conversation:
        """A conversation the user takes part in, ready for a new message: in a one-to-one chat, only when
        no reply is being generated; in a group or room, also while one is (a regeneration aside)."""
        conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        reply = self.in_flight.get(conversation_id)
        if reply is not None and (not takes_turns(conversation) or reply.mode != "reply"):
            self.chat.ensure_idle(conversation_id)
        return conversation

    async def _take_turn(
        self,
        turn: Turn,
        conversation: Conversation,
        route: list[ChatModel],
        *,
        user_message: Message | None = None,
        admitted: str | None = None,
    ) -> ReplyStream | Pending:
        """Start the turn's reply now, or queue it behind the one being generated. `admitted`: the model
        the orchestrator already admitted this generation for (released if the reply does not start now)."""
        async with self.turns.lock(conversation.id):
            if conversation.id in self.in_flight or self.turns.pending(conversation.id):
                pending = Pending(user_message, queued=self.turns.push(conversation.id, turn))
            else:
                reply = await self._begin(turn, conversation, route, user_message, admitted=admitted)
                if reply is not None:
                    return reply
                pending = Pending(user_message)
        if admitted is not None:  # a queued turn is admitted again when it starts
            await self.orchestrator.release(turn.user, admitted)
        return pending

    async def _begin(
        self,
        turn: Turn,
        conversation: Conversation,
        route: list[ChatModel],
        user_message: Message | None = None,
        *,
        admitted: str | None = None,
    ) -> ReplyStream | None:
        """Choose the turn's speaker and start its reply (the turn lock is held); None if nobody speaks.
        The generation counts against `turn.user`: who sent the message or asked the character to speak."""
        history = await self.conversations.path(conversation.id)
        if turn.kind == "trigger" and turn.character_id is not None:
            speaker: Character | None = await self.cast.member(conversation, turn.character_id)
        else:
            speaker = await self.cast.pick(conversation, history)
        if speaker is None:
            return None
        if admitted is None:
            admitted = await self.orchestrator.admit(turn.user, route)  # may refuse (402, 403)
        return await self._start(
            turn.user,
            conversation,
            route,
            history,
            mode="reply",
            parent_id=history[-1].id if history else None,
            user_message=user_message,
            admitted=admitted,
            speaker=speaker,
        )

    async def _next_turn(self, conversation_id: str, last: User, *, auto: bool = True) -> None:
        """A reply finished: start the next waiting turn, or (nothing waiting) let auto-mode go on."""
        async with self.turns.lock(conversation_id):
            if conversation_id in self.in_flight or self._closing:
                return
            while (turn := self.turns.pop(conversation_id)) is not None:
                try:
                    # Whoever queued it must still be in the room (a removed member's turns lapse).
                    conversation = await self.chat.get_conversation(turn.user, conversation_id, access="member")
                    route = await self._route_of(turn.user, conversation)
                    if await self._begin(turn, conversation, route, None) is not None:
                        return
                except BostoniaError as exc:
                    log.info("a queued turn in conversation %s lapsed: %s", conversation_id, exc.message)
            try:
                conversation = await self.chat.get_conversation(last, conversation_id, access="member")
            except BostoniaError:
                return
            if auto:
                self._arm_auto_mode(last, conversation)

    def _arm_auto_mode(self, user: User, conversation: Conversation) -> None:
        auto = conversation.auto_mode
        if conversation.is_group and auto.enabled:
            self.turns.arm(conversation.id, auto.delay_seconds, lambda: self._auto_turn(user, conversation.id))

    async def _auto_turn(self, user: User, conversation_id: str) -> None:
        """Auto-mode: the next character speaks, unless `max_turns` replies already followed a person's."""
        try:
            conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        except BostoniaError:
            return
        if not (conversation.is_group and conversation.auto_mode.enabled):
            return
        history = await self.conversations.path(conversation_id)
        if group.turn_context(history).replies_since_person > conversation.auto_mode.max_turns:
            return
        try:
            await self._take_turn(Turn(user, "auto"), conversation, await self._route_of(user, conversation))
        except BostoniaError as exc:
            log.info("auto-mode stopped in conversation %s: %s", conversation_id, exc.message)

    def _settings_changed(self, user: User, conversation: Conversation) -> None:
        """Auto-mode switched on in an idle group starts the characters talking; off stops them."""
        if not conversation.auto_mode.enabled:
            self.turns.disarm(conversation.id)
        elif conversation.id not in self.in_flight and not self.turns.armed(conversation.id):
            self._arm_auto_mode(user, conversation)
