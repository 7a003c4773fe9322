"""Chat pages (HTMX). Each open chat tab holds one server-sent event stream of HTML fragments
(`hx-swap-oob`) fed by the conversation hub: new messages, reply tokens, swipes, edits and typing
from any tab, socket or API client appear everywhere. Actions post and answer `204`; what changes
arrives over the stream. On (re)connect the stream first re-renders the whole path, so a tab never
misses anything.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from jinja2 import Template as JinjaTemplate
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, MultipartBody
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from bostonia.characters.deps import Characters
from bostonia.characters.schemas import Character
from bostonia.chat import events
from bostonia.chat.deps import Chat, Replies, Rooms
from bostonia.chat.events import ChatEvent
from bostonia.chat.hub import Subscription
from bostonia.chat.replies import ReplyService, merged_settings
from bostonia.chat.rooms import RoomService
from bostonia.chat.routes import MAX_CHAT_FILE, ImportForm
from bostonia.chat.schemas import Conversation, SamplerSettings, UpdateConversation
from bostonia.chat.service import ChatService
from bostonia.errors import BostoniaError, InvalidInput, PayloadTooLarge
from bostonia.http.deps import CurrentUser
from bostonia.identity import User
from bostonia.personas.deps import Personas
from bostonia.ui.forms import Form, sampler_values
from bostonia.ui.markdown import render_markdown

PAGE_SIZE = 200  # messages rendered at once; older ones load on demand
KEEPALIVE_SECONDS = 20


@dataclass
class ChatView:
    """What the chat templates need to render bubbles (for one viewer)."""

    conversation: Conversation
    character: Character  # a one-to-one chat's character; a group's first member
    persona_name: str  # the viewer's, here
    default_persona_name: str
    cast: dict[str, Character] = field(default_factory=dict)  # every member's card, by id
    user_id: str = ""
    is_owner: bool = True  # manages the chat (else: invited into the room, or an admin reading)
    persona_id: str | None = None

    @property
    def multi(self) -> bool:
        """Several characters or several people: every line shows its speaker."""
        return self.conversation.is_group or self.conversation.people_count > 1


async def chat_view(user: User, conversation_id: str, chat: ChatService, personas: Any, rooms: RoomService) -> ChatView:
    # "read": an admin allowed by `[privacy] admin_can_read_chats` may look (audited), never act.
    conversation = await chat.get_conversation(user, conversation_id, access="read")
    character = await chat.character_of(conversation)
    cast = {m.character_id: await chat.characters.of_conversation(m.character_id) for m in conversation.members}
    persona = await rooms.persona_of(user, conversation)
    default = await personas.for_chat(user, None)
    owner = conversation.user_id == user.id
    persona_id = conversation.persona_id if owner else await rooms.rooms.member_persona(conversation.id, user.id)
    return ChatView(conversation, character, persona.name, default.name, cast, user.id, owner, persona_id)


def no_content(**headers: str) -> Response[bytes]:
    return Response(content=b"", status_code=204, headers=headers or None)


class Fragments:
    """HTML fragments for one tab's event stream, rendered from `_chat.html`'s macros."""

    def __init__(
        self,
        template: JinjaTemplate,
        view: ChatView,
        chat: ChatService,
        replies: ReplyService,
        user: User,
        rooms: RoomService,
    ) -> None:
        # The macros of _chat.html, rendered for this viewer (their language, their own messages).
        self.macros: Any = template.make_module({"user": user})
        self.view = view
        self.chat = chat
        self.replies = replies
        self.user = user
        self.rooms = rooms

    async def whole_path(self) -> str:
        cid = self.view.conversation.id
        reply = self.replies.active_reply(cid)
        if reply is not None and reply.mode == "regenerate" and reply.parent_id:
            # The new swipe is not stored yet: show the turn it answers, then the stream.
            path = await self.chat.path_to(self.user, cid, reply.parent_id)
            messages, has_more = path[-PAGE_SIZE:], len(path) > PAGE_SIZE
        else:
            messages, has_more = await self.chat.messages(self.user, cid, limit=PAGE_SIZE)
        return str(self.macros.messages_oob(self.macros.path(messages, self.view, has_more, reply)))

    async def persona_changed(self, conversation: Conversation | None = None) -> str:
        """The viewer may have switched persona (here or in another tab): new messages and the chat head
        show the one they speak as now. Returns the head's fragment when it changed, else ""."""
        view = self.view
        if conversation is None:  # a switch arrives as "people changed": read the conversation's choice again
            view.conversation = await self.chat.get_conversation(self.user, view.conversation.id, access="read")
        persona = await self.rooms.persona_of(self.user, view.conversation)
        if persona.name == view.persona_name:
            return ""
        view.persona_name = persona.name
        return str(self.macros.persona_line(view, True))

    async def named_by_first_message(self) -> str:
        """An untitled chat takes its title from its first message (the store does it): show it."""
        view = self.view
        if view.conversation.title:
            return ""
        conversation = await self.chat.get_conversation(self.user, view.conversation.id, access="read")
        if not conversation.title:
            return ""
        view.conversation = conversation
        return str(self.macros.title_field(view, True))

    async def render(self, event: ChatEvent) -> str | None:
        """The fragment an open page swaps in for `event` (None: nothing to show)."""
        m, view = self.macros, self.view
        match event.data:
            case events.MessageReceived(message=message):
                reply = self.replies.active_reply(view.conversation.id)
                if reply is not None and reply.mode == "reply" and message.id != reply.message_id:
                    # Someone wrote while a reply streams: the reply is stored after their message.
                    return str(m.inserted_before(reply.message_id, m.bubble(message, view)))
                return str(m.appended(m.bubble(message, view))) + await self.named_by_first_message()
            case events.StreamStart(id=message_id, mode="reply", character_id=speaker):
                return str(m.appended(m.streaming(message_id, view, "", False, speaker)))
            case events.StreamStart(id=message_id, mode="continue", prefix=prefix, character_id=speaker):
                return str(m.streaming(message_id, view, prefix, True, speaker))
            case events.StreamStart():  # a regeneration replaces the turn it answers
                return await self.whole_path()
            case events.StreamChunk(id=message_id, content=content):
                return str(m.chunk_oob(message_id, content))
            case events.StreamRetract(id=message_id, reason=reason):  # moderation withdrew it: empty the bubble
                return str(m.retracted_oob(message_id, reason))
            case events.StreamFallback(id=message_id, notice=notice, restarted=True):  # the next model starts over
                return str(m.retracted_oob(message_id, notice))
            case events.StreamFallback(id=message_id, notice=notice):  # the next model carries on from here
                return str(m.fallback_oob(message_id, notice))
            case events.StreamComplete(message=message):
                return str(m.bubble(message, view, True))
            case events.Queued(id=message_id, position=position):
                return str(m.queue_oob(message_id, position))
            case events.ErrorNotice(id=str(message_id), message=text):
                return str(m.failed_oob(message_id, text))
            case events.PathChanged() | events.MessageUpdated():
                return await self.whole_path()
            case events.Typing(user_id=who, name=name) if event.event == events.TYPING_START:
                return str(m.typing_oob(name or view.persona_name, who == self.user.id))
            case events.Typing():
                return str(m.typing_oob(None))
            case events.Presence() | events.PeopleChanged():
                people = str(m.people_oob(await self.rooms.people(self.user, view.conversation.id), view))
                return people + await self.persona_changed()
            case events.ConversationUpdated(conversation=conversation) if conversation.is_group:
                self.view.conversation = conversation
                for member in conversation.members:
                    if member.character_id not in view.cast:
                        view.cast[member.character_id] = await self.chat.characters.of_conversation(member.character_id)
                await self.persona_changed(conversation)
                return str(m.members_oob(view)) + str(m.head_oob(view))
            case events.ConversationUpdated(conversation=conversation):
                self.view.conversation = conversation
                await self.persona_changed(conversation)
                return str(m.head_oob(view))
            case events.Removed(user_id=who) if who == self.user.id:
                return str(m.removed_oob())
        return None


def sampler_defaults(replies: ReplyService, view: ChatView) -> dict[str, Any]:
    unset = msgspec.structs.replace(view.conversation, settings=SamplerSettings())
    return msgspec.structs.asdict(merged_settings(replies.config, view.character, unset))


def sampler_from_form(data: dict[str, str]) -> SamplerSettings:
    try:
        return msgspec.convert(sampler_values(data), SamplerSettings)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid sampler settings: {exc}", details={"field": "settings"}) from None


class ChatPages(Controller):
    include_in_schema = False

    @post("/characters/{character_id:str}/chat")
    async def start_chat(self, character_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        conversation = await chat.start_conversation(user, character_id)
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    @get("/chats")
    async def chats_page(
        self, user: CurrentUser, chat: Chat, characters: Characters, rooms: Rooms, archived: FromQuery[bool] = False
    ) -> Template:
        return Template(
            "chats.html",
            context={
                "user": user,
                "archived": archived,
                "conversations": await chat.list_conversations(user, archived=archived),
                "characters": await characters.list(user),
                "invites": await rooms.pending(user),
            },
        )

    @get("/chats/search")
    async def search(self, user: CurrentUser, chat: Chat, q: FromQuery[str] = "") -> Template:
        hits = await chat.search(user, q) if q.strip() else []
        return Template("_search_results.html", context={"user": user, "hits": hits, "query": q.strip()})

    @post("/chats/import")
    async def import_chat(self, data: MultipartBody[ImportForm], user: CurrentUser, chat: Chat) -> Redirect:
        content = await data.file.read(MAX_CHAT_FILE + 1)
        if len(content) > MAX_CHAT_FILE:
            raise PayloadTooLarge(f"chat files are limited to {MAX_CHAT_FILE // (1024 * 1024)} MB")
        conversation = await chat.import_chat(user, data.cast(), content)
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    @get("/chats/{conversation_id:str}")
    async def chat_page(
        self,
        conversation_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        replies: Replies,
        personas: Personas,
        rooms: Rooms,
        characters: Characters,
    ) -> Template:
        view = await chat_view(user, conversation_id, chat, personas, rooms)
        messages, has_more = await chat.messages(user, conversation_id, limit=PAGE_SIZE)
        replies.warm_soon(user, conversation_id)  # the user is about to type: prepare the model meanwhile
        return Template(
            "chat.html",
            context={
                "user": user,
                "view": view,
                "messages": messages,
                "has_more": has_more,
                "reply": None,
                "tab": uuid.uuid4().hex,
                "personas": await personas.list(user),
                "family": await chat.family(user, conversation_id),
                # The chat's model: automatic (the user's route) or one their plan may pick; creative mode.
                "models": replies.router.pickable(user.tier),
                "route": replies.router.route_ids(user.tier),
                # What an empty sampler field means: the character's default, else the server's.
                "defaults": sampler_defaults(replies, view),
                "people": await rooms.people(user, conversation_id),
                # Who may join the group: the characters the owner can chat with.
                "characters": await characters.list(user) if view.conversation.is_group and view.is_owner else [],
            },
        )

    @get("/chats/{conversation_id:str}/events")
    async def events(
        self,
        conversation_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        replies: Replies,
        personas: Personas,
        rooms: Rooms,
        request: Request[Any, Any, Any],
        tab: FromQuery[str] = "",
        snapshot: FromQuery[bool] = False,
    ) -> ServerSentEvent:
        """The tab's event stream; `snapshot=true` sends the current state once and ends (polling clients).
        An open stream counts as the viewer being present in the room."""
        view = await chat_view(user, conversation_id, chat, personas, rooms)
        engine = request.app.template_engine
        assert engine is not None
        fragments = Fragments(engine.get_template("_chat.html"), view, chat, replies, user, rooms)
        if snapshot:
            return ServerSentEvent(_snapshot(fragments))
        subscription = chat.hub.subscribe(conversation_id, tab or None, user.id)
        return ServerSentEvent(_event_stream(subscription, fragments, f"page:{tab or uuid.uuid4().hex}"))

    @get("/chats/{conversation_id:str}/earlier")
    async def earlier(
        self,
        conversation_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        personas: Personas,
        request: Request[Any, Any, Any],
        before: FromQuery[str],
        rooms: Rooms,
    ) -> Response[str]:
        view = await chat_view(user, conversation_id, chat, personas, rooms)
        messages, has_more = await chat.messages(user, conversation_id, limit=PAGE_SIZE, before=before)
        engine = request.app.template_engine
        assert engine is not None
        return Response(
            str(engine.get_template("_chat.html").make_module({"user": user}).path(messages, view, has_more)),
            media_type="text/html",
        )

    @post("/chats/{conversation_id:str}/messages")
    async def send_message(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        await replies.send(user, conversation_id, data.get("content", ""), ooc=data.get("ooc") == "on")
        return no_content()

    @post("/chats/{conversation_id:str}/typing")
    async def typing(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, rooms: Rooms
    ) -> Response[bytes]:
        await rooms.typing(user, conversation_id, active=True, sender=data.get("tab"))
        return no_content()

    @post("/chats/{conversation_id:str}/cancel")
    async def cancel_reply(
        self, conversation_id: FromPath[str], user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        await replies.cancel(user, conversation_id)
        return no_content()

    @post("/chats/{conversation_id:str}/messages/{message_id:str}/swipe")
    async def swipe(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        direction: FromQuery[Literal["left", "right"]],
    ) -> Response[bytes]:
        await chat.swipe(user, conversation_id, message_id, direction)
        return no_content()

    @post("/chats/{conversation_id:str}/messages/{message_id:str}/regenerate")
    async def regenerate(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        await replies.regenerate(user, conversation_id, message_id)
        return no_content()

    @post("/chats/{conversation_id:str}/messages/{message_id:str}/continue")
    async def continue_message(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        await replies.continue_reply(user, conversation_id, message_id)
        return no_content()

    @post("/chats/{conversation_id:str}/messages/{message_id:str}/branch")
    async def branch(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, chat: Chat
    ) -> Response[bytes]:
        conversation = await chat.branch(user, conversation_id, message_id)
        return no_content(**{"HX-Redirect": f"/chats/{conversation.id}"})

    @get("/chats/{conversation_id:str}/messages/{message_id:str}/edit")
    async def edit_form(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, chat: Chat
    ) -> Template:
        message = await chat.message(user, conversation_id, message_id)
        return Template("_chat_edit.html", context={"message": message, "conversation_id": conversation_id})

    @get("/chats/{conversation_id:str}/messages/{message_id:str}/content")
    async def message_content(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        request: Request[Any, Any, Any],
    ) -> Response[str]:
        message = await chat.message(user, conversation_id, message_id)
        return Response(str(render_markdown(message.content)), media_type="text/html")

    @patch("/chats/{conversation_id:str}/messages/{message_id:str}")
    async def edit(
        self, conversation_id: FromPath[str], message_id: FromPath[str], data: Form, user: CurrentUser, chat: Chat
    ) -> Response[bytes]:
        await chat.edit(user, conversation_id, message_id, data.get("content", ""))
        return no_content()

    @delete("/chats/{conversation_id:str}/messages/{message_id:str}", status_code=204)
    async def delete_message(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, chat: Chat
    ) -> None:
        await chat.delete_message(user, conversation_id, message_id)

    @patch("/chats/{conversation_id:str}/settings")
    async def settings(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, chat: Chat
    ) -> Response[bytes]:
        """Title, persona or sampler settings, whichever the posting form holds."""
        changes = UpdateConversation(
            title=data.get("title"),
            persona_id=data.get("persona_id"),
            settings=sampler_from_form(data) if "temperature" in data else None,
        )
        await chat.update_conversation(user, conversation_id, changes)
        return no_content()

    @post("/chats/{conversation_id:str}/archive")
    async def archive(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        conversation = await chat.get_conversation(user, conversation_id)
        await chat.update_conversation(
            user, conversation_id, UpdateConversation(is_archived=not conversation.is_archived)
        )
        return Redirect("/chats", status_code=303)

    @get("/chats/{conversation_id:str}/prompt")
    async def prompt(self, conversation_id: FromPath[str], user: CurrentUser, replies: Replies) -> Template:
        prompt = await replies.preview_prompt(user, conversation_id, None)
        view = {
            "model": await replies.prompt_model(user, conversation_id),
            "budget": prompt.budget,
            "total_tokens": prompt.tokens,
            "dropped_messages": prompt.dropped_messages,
            "sections": prompt.sections,
        }
        return Template("_chat_prompt.html", context={"prompt": view})

    @post("/chats/{conversation_id:str}/delete")
    async def delete_chat(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        await chat.delete_conversation(user, conversation_id)
        return Redirect("/chats", status_code=303)


async def _snapshot(fragments: Fragments) -> AsyncIterator[ServerSentEventMessage]:
    yield ServerSentEventMessage(event="oob", data=await fragments.whole_path())


async def _event_stream(
    subscription: Subscription, fragments: Fragments, connection_id: str
) -> AsyncIterator[ServerSentEventMessage]:
    rooms, user, conversation = fragments.rooms, fragments.user, fragments.view.conversation
    try:
        await rooms.arrive(user, conversation, connection_id)
        yield ServerSentEventMessage(event="oob", data=await fragments.whole_path())
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keepalive")  # also notices a client that left
                rooms.still_here(conversation.id, user.id, connection_id)
                continue
            if event.event == "_closed":
                return
            try:
                fragment = await fragments.render(event)
            except BostoniaError:
                continue  # e.g. the conversation was deleted meanwhile
            if fragment:
                yield ServerSentEventMessage(event="oob", data=fragment)
    finally:
        subscription.close()
        await rooms.depart(user, conversation.id, connection_id)
