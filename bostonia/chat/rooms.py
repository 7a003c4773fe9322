"""Shared rooms: several people in one conversation — invitations, the people in it, who is present and
who is typing.

The owner (who started the conversation) invites people by link (anyone holding it may join until it
expires or is revoked) or by email address (an invitation only that account can accept; display names
are not unique, so they cannot name an account). Each person speaks as their own persona. The owner
manages the room: invitations, removing people, the cast and settings; a member may leave. Removing
someone takes effect at once: their sockets and open pages are cut off, their next request is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from bostonia.chat import events
from bostonia.chat.events import PresentPerson
from bostonia.chat.hub import ConversationHub
from bostonia.chat.presence import PresenceTracker
from bostonia.chat.room_store import InviteRow, PersonRow, RoomStore
from bostonia.chat.schemas import (
    Conversation,
    Invite,
    InviteCreated,
    InviteRequest,
    PendingInvite,
    Person,
    RoomJoined,
)
from bostonia.chat.service import ChatService
from bostonia.chat.stage import RoomPerson
from bostonia.db.values import utc_in, utcnow
from bostonia.errors import Conflict, InvalidInput, NotFound
from bostonia.identity import User
from bostonia.personas.service import PersonaService
from bostonia.prompt.builder import Persona

log = logging.getLogger(__name__)
MAX_PEOPLE = 20


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RoomService:
    def __init__(
        self,
        chat: ChatService,
        rooms: RoomStore,
        personas: PersonaService,
        hub: ConversationHub,
        presence: PresenceTracker | None = None,
    ) -> None:
        self.chat = chat
        self.rooms = rooms
        self.personas = personas
        self.hub = hub
        self.presence = presence or PresenceTracker()
        # Told when someone types in a conversation (auto-mode holds the characters back meanwhile).
        self.typing_listeners: list[Callable[[str], None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._names: dict[tuple[str, str], str] = {}  # (conversation, person) -> name, for "left" notices

    # -- people ------------------------------------------------------------------------------------------

    async def people(self, user: User, conversation_id: str) -> list[Person]:
        conversation = await self.chat.get_conversation(user, conversation_id, access="read")
        return await self._people(conversation.id)

    async def _people(self, conversation_id: str) -> list[Person]:
        present = set(self.presence.present(conversation_id))
        return [
            Person(
                user_id=row.user_id,
                display_name=row.display_name,
                persona_name=(await self._persona(row)).name,
                role="owner" if row.role == "owner" else "member",
                joined_at=row.joined_at,
                online=row.user_id in present,
            )
            for row in await self.rooms.people(conversation_id)
        ]

    async def _persona(self, row: PersonRow) -> Persona:
        return await self.personas.of_person(row.user_id, row.display_name, row.persona_id)

    async def room_people(self, conversation: Conversation) -> list[RoomPerson]:
        """Everyone in the conversation with the persona they speak as (the prompt names them all)."""
        if conversation.people_count <= 1:
            return []
        return [RoomPerson(row.user_id, await self._persona(row)) for row in await self.rooms.people(conversation.id)]

    async def persona_of(self, user: User, conversation: Conversation) -> Persona:
        """The persona `user` speaks as in this conversation."""
        if conversation.user_id == user.id:
            return await self.personas.for_chat(user, conversation.persona_id)
        return await self.personas.for_chat(user, await self.rooms.member_persona(conversation.id, user.id))

    async def set_persona(self, user: User, conversation_id: str, persona_id: str) -> None:
        """Speak as this persona here ("" for the default one)."""
        conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        if persona_id:
            await self.personas.get(user, persona_id)
        if conversation.user_id == user.id:
            await self.chat.conversations.update(conversation_id, {"persona_id": persona_id or None})
        else:
            await self.rooms.set_member_persona(conversation_id, user.id, persona_id or None)
        await self._people_changed(conversation_id)

    async def remove(self, user: User, conversation_id: str, person_id: str) -> None:
        """The owner removes someone, or a member leaves. They lose the room at once (sockets included)."""
        conversation = await self.chat.get_conversation(user, conversation_id, access="read")
        if user.id not in (conversation.user_id, person_id):
            raise NotFound("conversation not found")  # a member cannot see who else may be removed
        if person_id == conversation.user_id:
            raise Conflict("the owner cannot leave their own room; delete it instead", code="owner_cannot_leave")
        if not await self.rooms.remove_person(conversation_id, person_id):
            raise NotFound("no such person in this room")
        if self.presence.drop(conversation_id, person_id):
            self._left(conversation_id, person_id)
        self.hub.drop_user(conversation_id, person_id, events.removed(conversation_id, person_id))
        await self._people_changed(conversation_id)

    async def _people_changed(self, conversation_id: str) -> None:
        self.hub.publish(conversation_id, events.people_changed(conversation_id, await self._people(conversation_id)))

    # -- invitations -------------------------------------------------------------------------------------

    async def invite(self, user: User, conversation_id: str, request: InviteRequest, base_url: str) -> InviteCreated:
        """A new invitation (the owner's). The token is shown once; only its hash is kept."""
        conversation = await self.chat.get_conversation(user, conversation_id)
        invitee_id = None
        if request.email is not None:
            found = await self.rooms.user_by_email(request.email)
            if found is None:
                raise NotFound("no account with this email address", code="user_not_found")
            invitee_id = found[0]
            if invitee_id == conversation.user_id:
                raise InvalidInput("you are already in your own room", code="already_in_room")
        if conversation.people_count >= MAX_PEOPLE:
            raise Conflict(f"a room holds at most {MAX_PEOPLE} people", code="room_full")
        token = secrets.token_urlsafe(24)
        row = await self.rooms.create_invite(
            conversation_id=conversation_id,
            token_hash=token_hash(token),
            created_by=user.id,
            invitee_id=invitee_id,
            expires_at=utc_in(timedelta(hours=request.expires_in_hours)),
        )
        url = f"{base_url.rstrip('/')}/invites/{token}"
        return InviteCreated(id=row.id, token=token, url=url, expires_at=row.expires_at, invitee_id=invitee_id)

    async def invites(self, user: User, conversation_id: str) -> list[Invite]:
        await self.chat.get_conversation(user, conversation_id)
        return [
            Invite(
                id=row.id,
                conversation_id=row.conversation_id,
                created_at=row.created_at,
                expires_at=row.expires_at,
                uses=row.uses,
                revoked=row.revoked_at is not None,
                invitee_name=row.invitee_name,
            )
            for row in await self.rooms.invites(conversation_id)
        ]

    async def revoke(self, user: User, conversation_id: str, invite_id: str) -> None:
        await self.chat.get_conversation(user, conversation_id)
        row = await self.rooms.invite(invite_id=invite_id)
        if row is None or row.conversation_id != conversation_id:
            raise NotFound("invitation not found")
        await self.rooms.revoke(invite_id)

    async def preview(self, user: User, token: str) -> Conversation:
        """The room an invitation leads to (for the page that asks whether to join)."""
        row = await self._live_invite(user, token)
        conversation = await self.chat.conversations.get(row.conversation_id)
        if conversation is None:
            raise NotFound("invitation not found")
        return conversation

    async def accept(self, user: User, token: str, persona_id: str | None = None) -> RoomJoined:
        """Join the room of a live invitation: its token (a link), or its id for one addressed to `user`."""
        row = await self._live_invite(user, token)
        conversation = await self.chat.conversations.get(row.conversation_id)
        if conversation is None:
            raise NotFound("invitation not found")
        joined = RoomJoined(conversation_id=conversation.id, url=f"/chats/{conversation.id}")
        if conversation.user_id == user.id or await self.rooms.is_member(conversation.id, user.id):
            return joined  # already in: nothing to do
        if conversation.people_count >= MAX_PEOPLE:
            raise Conflict(f"a room holds at most {MAX_PEOPLE} people", code="room_full")
        if persona_id is not None:
            await self.personas.get(user, persona_id)
        if not await self.rooms.accept(row, user.id, persona_id):
            raise NotFound("invitation not found or expired")
        await self._people_changed(conversation.id)
        return joined

    async def pending(self, user: User) -> list[PendingInvite]:
        return [PendingInvite(**row) for row in await self.rooms.pending_for(user.id)]

    async def decline(self, user: User, invite_id: str) -> None:
        row = await self.rooms.invite(invite_id=invite_id)
        if row is None or row.invitee_id != user.id:
            raise NotFound("invitation not found")
        await self.rooms.revoke(invite_id)

    async def _live_invite(self, user: User, token: str) -> InviteRow:
        row = await self.rooms.invite(token_hash=token_hash(token))
        if row is None and len(token) <= 64:  # an invitation addressed to the caller may be named by its id
            by_id = await self.rooms.invite(invite_id=token)
            row = by_id if by_id is not None and by_id.invitee_id == user.id else None
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            raise NotFound("invitation not found or expired", code="invite_not_found")
        if row.invitee_id is not None and row.invitee_id != user.id:
            raise NotFound("invitation not found or expired", code="invite_not_found")
        return row

    # -- presence and typing -----------------------------------------------------------------------------

    async def arrive(self, user: User, conversation: Conversation, connection_id: str) -> list[PresentPerson]:
        """A connection of `user` opened the room (or showed it is still there): who is present now."""
        if self.presence.connect(conversation.id, user.id, connection_id):
            name = self._names[(conversation.id, user.id)] = (await self.persona_of(user, conversation)).name
            self.hub.publish(conversation.id, events.presence(conversation.id, user.id, name, online=True))
        self._sweep_soon()
        return await self.present(conversation)

    def still_here(self, conversation_id: str, user_id: str, connection_id: str) -> None:
        """A sign of life from a connection already counted (a socket's frame, a page's keepalive)."""
        self.presence.touch(conversation_id, user_id, connection_id)

    async def depart(self, user: User, conversation_id: str, connection_id: str) -> None:
        if self.presence.disconnect(conversation_id, user.id, connection_id):
            self._left(conversation_id, user.id)

    def _left(self, conversation_id: str, user_id: str) -> None:
        name = self._names.pop((conversation_id, user_id), "")
        self.hub.publish(conversation_id, events.presence(conversation_id, user_id, name, online=False))

    async def present(self, conversation: Conversation) -> list[PresentPerson]:
        ids = self.presence.present(conversation.id)
        if not ids:
            return []
        names = {row.user_id: (await self._persona(row)).name for row in await self.rooms.people(conversation.id)}
        return [PresentPerson(user_id, names.get(user_id, "")) for user_id in ids if user_id in names]

    async def typing(self, user: User, conversation_id: str, *, active: bool, sender: str | None = None) -> None:
        conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        name = (await self.persona_of(user, conversation)).name
        await self.chat.publish_typing(user, conversation_id, active=active, sender=sender, name=name)
        if active:
            for listener in self.typing_listeners:
                listener(conversation_id)

    def _sweep_soon(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Announce the people whose connections went silent, until nobody is connected anywhere."""
        while not self.presence.empty:
            await asyncio.sleep(max(self.presence.timeout / 4, 0.05))
            for conversation_id, user_id in self.presence.expire():
                self._left(conversation_id, user_id)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
