"""Group chat and shared room pages (HTMX): creating a group, its member list (mute, talkativeness,
force talk), its settings, invitations, the people in a room, and the page an invitation link opens.
What changes reaches every open page through the conversation's event stream (see `pages.py`)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from bostonia.chat.deps import Cast, Replies, Rooms
from bostonia.chat.schemas import (
    CreateConversation,
    InviteRequest,
    MemberChange,
    UpdateConversation,
)
from bostonia.errors import InvalidInput
from bostonia.http.deps import CurrentUser
from bostonia.ui.forms import Form


def no_content(**headers: str) -> Response[bytes]:
    return Response(content=b"", status_code=204, headers=headers or None)


def _number(data: dict[str, str], field: str, kind: type[float] | type[int]) -> Any:
    raw = (data.get(field) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidInput(f"{field} must be a number", details={"field": field}) from None


class RoomPages(Controller):
    include_in_schema = False

    @post("/chats/group")
    async def start_group(self, user: CurrentUser, cast: Cast, request: Request[Any, Any, Any]) -> Redirect:
        form = await request.form()
        ids = [str(value) for value in form.getall("character_ids", [])]
        name = str(form.get("name") or "").strip() or None
        conversation = await cast.start(user, CreateConversation(character_ids=ids, name=name))
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    @post("/chats/{conversation_id:str}/trigger")
    async def trigger(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        """Force talk: that member speaks now (after the reply in flight)."""
        await replies.trigger(user, conversation_id, data.get("character_id") or None)
        return no_content()

    @post("/chats/{conversation_id:str}/members")
    async def change_members(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, cast: Cast
    ) -> Response[bytes]:
        """One member's change (`character_id` with `muted`/`talkativeness`, or `action` remove, up, down),
        or a character added (`add`)."""
        conversation = await cast.chat.get_conversation(user, conversation_id)
        members = [
            MemberChange(character_id=m.character_id, muted=m.muted, talkativeness=m.talkativeness)
            for m in conversation.members
        ]
        if added := data.get("add"):
            members.append(MemberChange(character_id=added))
        elif target := data.get("character_id"):
            index = next((i for i, m in enumerate(members) if m.character_id == target), None)
            if index is None:
                raise InvalidInput("that character is not in this chat", code="not_a_member")
            action = data.get("action", "")
            if action == "remove":
                members.pop(index)
            elif action in ("up", "down"):
                other = index - 1 if action == "up" else index + 1
                if 0 <= other < len(members):
                    members[index], members[other] = members[other], members[index]
            else:
                talk = _number(data, "talkativeness", float)
                members[index] = MemberChange(
                    character_id=target,
                    muted=data.get("muted") == "on",
                    talkativeness=None if talk is None else min(max(talk / 100, 0.0), 1.0),
                )
        await cast.update(user, conversation_id, UpdateConversation(members=members))
        return no_content()

    @post("/chats/{conversation_id:str}/group")
    async def group_settings(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, cast: Cast
    ) -> Response[bytes]:
        conversation = await cast.chat.get_conversation(user, conversation_id)
        auto = conversation.auto_mode
        fields = {
            "strategy": data.get("strategy") or conversation.strategy,
            "card_mode": data.get("card_mode") or conversation.card_mode,
            "include_muted": data.get("include_muted") == "on",
            "allow_self_responses": data.get("allow_self_responses") == "on",
            "scenario": data.get("scenario", conversation.scenario),
            "auto_mode": {
                "enabled": data.get("auto_enabled") == "on",
                "delay_seconds": _number(data, "auto_delay", float) if data.get("auto_delay") else auto.delay_seconds,
                "max_turns": _number(data, "auto_max_turns", int) if data.get("auto_max_turns") else auto.max_turns,
            },
        }
        try:  # the API's own rules (names, ranges) for what the form says
            changes = msgspec.convert(fields, UpdateConversation)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"invalid group settings: {exc}") from None
        await cast.update(user, conversation_id, changes)
        return no_content()

    @post("/chats/{conversation_id:str}/invites")
    async def invite(
        self,
        conversation_id: FromPath[str],
        data: Form,
        user: CurrentUser,
        rooms: Rooms,
        request: Request[Any, Any, Any],
    ) -> Template:
        email = (data.get("email") or "").strip() or None
        created = await rooms.invite(user, conversation_id, InviteRequest(email=email), str(request.base_url))
        return Template("_room_invite.html", context={"invite": created, "email": email})

    @post("/chats/{conversation_id:str}/people/{person_id:str}/remove")
    async def remove_person(
        self, conversation_id: FromPath[str], person_id: FromPath[str], user: CurrentUser, rooms: Rooms
    ) -> Response[bytes]:
        await rooms.remove(user, conversation_id, person_id)
        return no_content(**({"HX-Redirect": "/chats"} if person_id == user.id else {}))

    @post("/chats/{conversation_id:str}/persona")
    async def persona(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, rooms: Rooms
    ) -> Response[bytes]:
        """The persona the caller speaks as here (the owner's is the conversation's)."""
        await rooms.set_persona(user, conversation_id, data.get("persona_id", ""))
        return no_content()

    @get("/invites/{token:str}")
    async def invite_page(self, token: FromPath[str], user: CurrentUser, rooms: Rooms) -> Template:
        conversation = await rooms.preview(user, token)
        return Template("invite.html", context={"user": user, "conversation": conversation, "token": token})

    @post("/invites/{token:str}/accept")
    async def accept(self, token: FromPath[str], user: CurrentUser, rooms: Rooms) -> Redirect:
        joined = await rooms.accept(user, token)
        return Redirect(joined.url, status_code=303)

    @post("/invites/{invite_id:str}/decline")
    async def decline(self, invite_id: FromPath[str], user: CurrentUser, rooms: Rooms) -> Redirect:
        await rooms.decline(user, invite_id)
        return Redirect("/chats", status_code=303)
