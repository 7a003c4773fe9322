"""Chat pages: the list of chats and the chat itself, whose replies stream in over SSE (HTMX)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template
from markupsafe import escape

from bostonia.chat.streams import CHUNK, COMPLETE
from bostonia.http.deps import Characters, Chat, CurrentUser
from bostonia.ui.forms import Form


class ChatPages(Controller):
    include_in_schema = False

    @post("/characters/{character_id:str}/chat")
    async def start_chat(self, character_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        conversation = await chat.start_conversation(user, character_id)
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    @get("/chats")
    async def chats_page(self, user: CurrentUser, chat: Chat) -> Template:
        return Template("chats.html", context={"user": user, "conversations": await chat.list_conversations(user)})

    @get("/chats/{conversation_id:str}")
    async def chat_page(
        self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat, characters: Characters
    ) -> Template:
        conversation = await chat.get_conversation(user, conversation_id, access="read")
        return Template(
            "chat.html",
            context={
                "user": user,
                "conversation": conversation,
                "character": await characters.get(user, conversation.character_id),
                "messages": await chat.messages(user, conversation_id),
                "reply": chat.active_reply(user, conversation_id),
            },
        )

    @post("/chats/{conversation_id:str}/messages")
    async def send_message(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, chat: Chat, characters: Characters
    ) -> Template:
        """HTMX: answers with the user's message and a reply bubble that streams itself over SSE."""
        reply = await chat.send(user, conversation_id, data.get("content", ""))
        conversation = await chat.get_conversation(user, conversation_id)
        character = await characters.get(user, conversation.character_id)
        return Template(
            "_exchange.html",
            status_code=200,
            context={"user": user, "conversation": conversation, "character": character, "reply": reply},
        )

    @get("/chats/{conversation_id:str}/stream/{message_id:str}")
    async def stream_reply(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        characters: Characters,
        request: Request[Any, Any, Any],
    ) -> ServerSentEvent:
        """The reply as HTML fragments: `chunk` events append text, one `done` event swaps in the
        finished message (or an error)."""
        conversation = await chat.get_conversation(user, conversation_id)
        character = await characters.get(user, conversation.character_id)
        reply = chat.active_reply(user, conversation_id, message_id)
        engine = request.app.template_engine
        assert engine is not None  # configured in app.py
        partials = engine.get_template("_message.html")

        def render(message: Any = None, error: str | None = None) -> str:
            return partials.render(message=message, error=error, character=character, user=user, message_id=message_id)

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            if reply is None:  # finished before we connected: send the stored message
                stored = next((m for m in await chat.messages(user, conversation_id) if m.id == message_id), None)
                yield ServerSentEventMessage(event="done", data=render(stored, None if stored else "reply not found"))
                return
            async for event in reply.events():
                if event.event == CHUNK:
                    yield ServerSentEventMessage(event="chunk", data=str(escape(event.data["content"])))
                elif event.event == COMPLETE:
                    yield ServerSentEventMessage(event="done", data=render(event.data["message"]))
                elif event.event == "error":
                    yield ServerSentEventMessage(event="done", data=render(error=event.data["message"]))

        return ServerSentEvent(events())

    @post("/chats/{conversation_id:str}/cancel", status_code=204)
    async def cancel_reply(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> None:
        await chat.cancel(user, conversation_id)

    @post("/chats/{conversation_id:str}/delete")
    async def delete_chat(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        await chat.delete_conversation(user, conversation_id)
        return Redirect("/chats", status_code=303)
