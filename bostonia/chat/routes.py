"""Conversations over HTTP. Sending a message answers with JSON, or streams the reply as SSE when the
client sends `Accept: text/event-stream`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage

from bostonia.chat.schemas import (
    ChatEvent,
    Conversation,
    ConversationList,
    CreateConversation,
    Exchange,
    MessageList,
    SendMessage,
)
from bostonia.chat.service import ChatService
from bostonia.chat.streams import COMPLETE, START, ReplyStream
from bostonia.db.values import to_json
from bostonia.errors import NotFound
from bostonia.http.deps import Chat, CurrentUser
from bostonia.users.schemas import User


def sse_messages(events: AsyncIterator[ChatEvent]) -> AsyncIterator[ServerSentEventMessage]:
    async def encode() -> AsyncIterator[ServerSentEventMessage]:
        async for event in events:
            yield ServerSentEventMessage(event=event.event, data=to_json(event.data))

    return encode()


async def finished_reply_events(
    chat: ChatService, user: User, conversation_id: str, message_id: str
) -> AsyncIterator[ChatEvent]:
    """A reply that already finished streams as start + complete, so late listeners still get it."""
    messages = await chat.messages(user, conversation_id)
    message = next((m for m in messages if m.id == message_id), None)
    if message is None:
        raise NotFound("no reply with this id in the conversation")

    async def events() -> AsyncIterator[ChatEvent]:
        yield ChatEvent(START, {"id": message.id, "conversation_id": conversation_id, "parent_id": message.parent_id})
        yield ChatEvent(COMPLETE, {"message": message})

    return events()


class ConversationController(Controller):
    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get("/")
    async def list_conversations(self, chat: Chat, user: CurrentUser) -> ConversationList:
        return ConversationList(items=await chat.list_conversations(user))

    @post("/", status_code=201)
    async def create_conversation(
        self, data: JSONBody[CreateConversation], chat: Chat, user: CurrentUser
    ) -> Conversation:
        """Start a conversation; the character's greeting is stored as the first message."""
        return await chat.start_conversation(user, data.character_id)

    @get("/{conversation_id:str}")
    async def get_conversation(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> Conversation:
        return await chat.get_conversation(user, conversation_id, access="read")

    @delete("/{conversation_id:str}", status_code=204)
    async def delete_conversation(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> None:
        await chat.delete_conversation(user, conversation_id)

    @get("/{conversation_id:str}/messages")
    async def list_messages(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> MessageList:
        """The messages of the conversation's active path, oldest first."""
        return MessageList(items=await chat.messages(user, conversation_id))

    @post("/{conversation_id:str}/messages", status_code=201)
    async def send_message(
        self,
        conversation_id: FromPath[str],
        data: JSONBody[SendMessage],
        chat: Chat,
        user: CurrentUser,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """Send a message and get the character's reply: JSON once it is done, or a token stream
        (`message:stream:start`, `message:stream:chunk`, `message:stream:complete`) for
        `Accept: text/event-stream`."""
        reply: ReplyStream = await chat.send(user, conversation_id, data.content)
        if "text/event-stream" in request.headers.get("accept", ""):
            return ServerSentEvent(sse_messages(reply.events()), status_code=200)
        message = await reply.result()
        return Response(Exchange(user_message=reply.user_message, assistant_message=message), status_code=201)

    @get("/{conversation_id:str}/messages/{message_id:str}/stream")
    async def stream_reply(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, user: CurrentUser
    ) -> ServerSentEvent:
        """Follow a reply by id: live if it is still being generated, else its final message.
        A client whose connection dropped mid-reply reconnects here."""
        await chat.get_conversation(user, conversation_id)
        reply = chat.active_reply(user, conversation_id, message_id)
        events = reply.events() if reply else await finished_reply_events(chat, user, conversation_id, message_id)
        return ServerSentEvent(sse_messages(events))

    @post("/{conversation_id:str}/cancel", status_code=200)
    async def cancel_reply(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> dict[str, bool]:
        """Stop the reply being generated; the text so far is kept as a partial message."""
        return {"cancelled": await chat.cancel(user, conversation_id)}
