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
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from jinja2 import Template as JinjaTemplate
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, MultipartBody
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template
from markupsafe import escape

from bostonia.characters.schemas import Character
from bostonia.chat.hub import Subscription
from bostonia.chat.replies import ReplyService
from bostonia.chat.routes import MAX_CHAT_FILE, ImportForm
from bostonia.chat.schemas import ChatEvent, Conversation, SamplerSettings, UpdateConversation
from bostonia.chat.service import PATH_CHANGED, ChatService
from bostonia.chat.streams import CHUNK, COMPLETE, ERROR, QUEUED, RETRACT, START
from bostonia.errors import BostoniaError, InvalidInput, PayloadTooLarge
from bostonia.http.deps import Chat, CurrentUser, Personas, Replies
from bostonia.identity import User
from bostonia.ui.forms import Form, sampler_values

PAGE_SIZE = 200  # messages rendered at once; older ones load on demand
KEEPALIVE_SECONDS = 20


@dataclass
class ChatView:
    """What the chat templates need to render bubbles."""

    conversation: Conversation
    character: Character
    persona_name: str
    default_persona_name: str


async def chat_view(user: User, conversation_id: str, chat: ChatService, personas: Any) -> ChatView:
    # "read": an admin allowed by `[privacy] admin_can_read_chats` may look (audited), never act.
    conversation = await chat.get_conversation(user, conversation_id, access="read")
    character = await chat.characters.of_conversation(conversation.character_id)
    persona = await personas.for_chat(user, conversation.persona_id)
    default = await personas.for_chat(user, None)
    return ChatView(conversation, character, persona.name, default.name)


def no_content(**headers: str) -> Response[bytes]:
    return Response(content=b"", status_code=204, headers=headers or None)


class Fragments:
    """HTML fragments for one tab's event stream, rendered from `_chat.html`'s macros."""

    def __init__(
        self, template: JinjaTemplate, view: ChatView, chat: ChatService, replies: ReplyService, user: User
    ) -> None:
        self.macros: Any = template.module  # the macros of _chat.html
        self.view = view
        self.chat = chat
        self.replies = replies
        self.user = user

    async def whole_path(self) -> str:
        cid = self.view.conversation.id
        reply = self.replies.active_reply(cid)
        if reply is not None and reply.mode == "regenerate" and reply.parent_id:
            # The new swipe is not stored yet: show the turn it answers, then the stream.
            path = await self.chat.conversations.path_to(reply.parent_id)
            messages, has_more = path[-PAGE_SIZE:], len(path) > PAGE_SIZE
        else:
            messages, has_more = await self.chat.messages(self.user, cid, limit=PAGE_SIZE)
        inner = self.macros.path(messages, self.view, has_more, reply)
        return f'<div id="messages" hx-swap-oob="innerHTML">{inner}</div>'

    async def render(self, event: ChatEvent) -> str | None:
        data = event.data
        if event.event == "message:received":
            return f'<div hx-swap-oob="beforeend:#messages">{self.macros.bubble(_message(data), self.view)}</div>'
        if event.event == START:
            if data.get("mode") == "reply":
                return f'<div hx-swap-oob="beforeend:#messages">{self.macros.streaming(data["id"], self.view)}</div>'
            if data.get("mode") == "continue":
                return str(self.macros.streaming(data["id"], self.view, data.get("prefix", ""), True))
            return await self.whole_path()
        if event.event == CHUNK:
            return f'<span hx-swap-oob="beforeend:#content-{data["id"]}">{escape(data["content"])}</span>'
        if event.event == RETRACT:  # moderation withdrew the text so far: empty the bubble, say why
            return (
                f'<div class="content" id="content-{data["id"]}" hx-swap-oob="true"></div>'
                f'<div id="queue-{data["id"]}" class="queue meta" hx-swap-oob="true">{escape(data["reason"])}</div>'
            )
        if event.event == COMPLETE:
            return str(self.macros.bubble(_message(data), self.view, True))
        if event.event == QUEUED:
            waiting = f"Waiting for the model: {data['position']} ahead"
            return f'<div id="queue-{data["id"]}" class="queue meta" hx-swap-oob="true">{escape(waiting)}</div>'
        if event.event == ERROR and data.get("id"):
            return (
                f'<article id="msg-{data["id"]}" class="msg assistant error" hx-swap-oob="true"><div class="body">'
                f'<div class="content">{escape(data["message"])}</div></div></article>'
            )
        if event.event in (PATH_CHANGED, "message:updated"):
            return await self.whole_path()
        if event.event == "typing:start":
            return (
                f'<div id="typing-indicator" class="typing-indicator active" hx-swap-oob="true">'
                f"{escape(self.view.persona_name)} is typing in another tab…</div>"
            )
        if event.event == "typing:stop":
            return '<div id="typing-indicator" class="typing-indicator" hx-swap-oob="true"></div>'
        return None


def _message(data: dict[str, Any]) -> Any:
    message = data["message"]
    return msgspec.to_builtins(message) if isinstance(message, msgspec.Struct) else message


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
    async def chats_page(self, user: CurrentUser, chat: Chat, archived: FromQuery[bool] = False) -> Template:
        return Template(
            "chats.html",
            context={
                "user": user,
                "archived": archived,
                "conversations": await chat.list_conversations(user, archived=archived),
                "characters": await chat.characters.list(user),
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
        conversation = await chat.import_chat(user, data.character_id, content)
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    @get("/chats/{conversation_id:str}")
    async def chat_page(
        self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat, replies: Replies, personas: Personas
    ) -> Template:
        view = await chat_view(user, conversation_id, chat, personas)
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
        request: Request[Any, Any, Any],
        tab: FromQuery[str] = "",
        snapshot: FromQuery[bool] = False,
    ) -> ServerSentEvent:
        """The tab's event stream; `snapshot=true` sends the current state once and ends (polling clients)."""
        view = await chat_view(user, conversation_id, chat, personas)
        engine = request.app.template_engine
        assert engine is not None
        fragments = Fragments(engine.get_template("_chat.html"), view, chat, replies, user)
        if snapshot:
            return ServerSentEvent(_snapshot(fragments))
        subscription = chat.hub.subscribe(conversation_id, tab or None)
        return ServerSentEvent(_event_stream(subscription, fragments))

    @get("/chats/{conversation_id:str}/earlier")
    async def earlier(
        self,
        conversation_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        personas: Personas,
        request: Request[Any, Any, Any],
        before: FromQuery[str],
    ) -> Response[str]:
        view = await chat_view(user, conversation_id, chat, personas)
        messages, has_more = await chat.messages(user, conversation_id, limit=PAGE_SIZE, before=before)
        engine = request.app.template_engine
        assert engine is not None
        return Response(
            str(engine.get_template("_chat.html").module.path(messages, view, has_more)), media_type="text/html"
        )

    @post("/chats/{conversation_id:str}/messages")
    async def send_message(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, replies: Replies
    ) -> Response[bytes]:
        await replies.send(user, conversation_id, data.get("content", ""))
        return no_content()

    @post("/chats/{conversation_id:str}/typing")
    async def typing(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, chat: Chat
    ) -> Response[bytes]:
        await chat.get_conversation(user, conversation_id)
        chat.hub.publish(
            conversation_id,
            ChatEvent("typing:start", {"conversation_id": conversation_id, "user_id": user.id}),
            sender=data.get("tab"),
        )
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
        from bostonia.ui.filters import roleplay

        message = await chat.message(user, conversation_id, message_id)
        return Response(str(roleplay(message.content)), media_type="text/html")

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
            "model": replies.models.default.model_id,
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


async def _event_stream(subscription: Subscription, fragments: Fragments) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(event="oob", data=await fragments.whole_path())
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keepalive")  # also notices a client that left
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
