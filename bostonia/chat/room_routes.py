"""Shared rooms over HTTP: the people in a conversation, invitations, accepting them (thin: `RoomService`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from bostonia.chat.deps import Rooms
from bostonia.chat.schemas import (
    AcceptInvite,
    InviteCreated,
    InviteList,
    InviteRequest,
    PendingInviteList,
    PeopleList,
    PersonChange,
    RoomJoined,
)
from bostonia.errors import PermissionDenied
from bostonia.http.deps import CurrentUser


class RoomController(Controller):
    path = "/api/v1/conversations/{conversation_id:str}"
    tags = ["rooms"]

    @get("/people")
    async def list_people(self, conversation_id: FromPath[str], rooms: Rooms, user: CurrentUser) -> PeopleList:
        """The owner and everyone invited in, with the persona each speaks as and whether they are present."""
        return PeopleList(items=await rooms.people(user, conversation_id))

    @patch("/people/{user_id:str}")
    async def change_person(
        self,
        conversation_id: FromPath[str],
        user_id: FromPath[str],
        data: JSONBody[PersonChange],
        rooms: Rooms,
        user: CurrentUser,
    ) -> PeopleList:
        """Choose the persona you speak as here (`""`: your default). Only your own."""
        if user_id != user.id:
            await rooms.people(user, conversation_id)  # someone else's room: 404 before anything else
            raise PermissionDenied("you can only choose your own persona", code="not_yourself")
        await rooms.set_persona(user, conversation_id, data.persona_id)
        return PeopleList(items=await rooms.people(user, conversation_id))

    @delete("/people/{user_id:str}", status_code=204)
    async def remove_person(
        self, conversation_id: FromPath[str], user_id: FromPath[str], rooms: Rooms, user: CurrentUser
    ) -> None:
        """The owner removes someone (or a member leaves): their access, sockets included, ends at once."""
        await rooms.remove(user, conversation_id, user_id)

    @post("/invites", status_code=201)
    async def create_invite(
        self,
        conversation_id: FromPath[str],
        rooms: Rooms,
        user: CurrentUser,
        request: Request[Any, Any, Any],
        data: JSONBody[InviteRequest | None] = None,
    ) -> InviteCreated:
        """An invitation (the owner's): a link anyone holding it may use, or with `email` one only that
        account may accept. The token is shown once."""
        return await rooms.invite(user, conversation_id, data or InviteRequest(), str(request.base_url))

    @get("/invites")
    async def list_invites(self, conversation_id: FromPath[str], rooms: Rooms, user: CurrentUser) -> InviteList:
        return InviteList(items=await rooms.invites(user, conversation_id))

    @delete("/invites/{invite_id:str}", status_code=204)
    async def revoke_invite(
        self, conversation_id: FromPath[str], invite_id: FromPath[str], rooms: Rooms, user: CurrentUser
    ) -> None:
        await rooms.revoke(user, conversation_id, invite_id)


class InviteController(Controller):
    path = "/api/v1/invites"
    tags = ["rooms"]

    @get("/")
    async def pending_invites(self, rooms: Rooms, user: CurrentUser) -> PendingInviteList:
        """Invitations addressed to you (by email), not yet accepted or declined."""
        return PendingInviteList(items=await rooms.pending(user))

    @post("/{token:str}/accept", status_code=200)
    async def accept_invite(
        self, token: FromPath[str], rooms: Rooms, user: CurrentUser, data: JSONBody[AcceptInvite | None] = None
    ) -> RoomJoined:
        """Join the room (`token`: the link's; or the id of an invitation addressed to you)."""
        return await rooms.accept(user, token, (data or AcceptInvite()).persona_id)

    @delete("/{invite_id:str}", status_code=204)
    async def decline_invite(self, invite_id: FromPath[str], rooms: Rooms, user: CurrentUser) -> None:
        await rooms.decline(user, invite_id)
