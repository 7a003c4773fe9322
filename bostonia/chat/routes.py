"""Conversations over HTTP. Endpoints that start a reply answer with JSON once it is done, or stream it as
server-sent events (`message:stream:start`, `message:stream:chunk`, `message:stream:complete`) when the
client sends `Accept: text/event-stream`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody
from litestar.response import ServerSentEvent, ServerSentEventMessage

from bostonia.chat import events
from bostonia.chat.deps import Cast, Chat, Replies
from bostonia.chat.events import ChatEvent, StreamStart
from bostonia.chat.schemas import (
    BranchRequest,
    Conversation,
    ConversationList,
    CreateConversation,
    EditMessage,
    Exchange,
    Message,
    MessageList,
    PathChange,
    SearchResults,
    SendMessage,
    Trigger,
    UpdateConversation,
)
from bostonia.chat.streams import ReplyStream
from bostonia.chat.turn_taking import Pending
from bostonia.db.values import to_json
from bostonia.errors import NotFound, PayloadTooLarge
from bostonia.http.deps import CurrentUser
from bostonia.http.downloads import attachment
from bostonia.prompt.builder import PromptSection

MAX_CHAT_FILE = 20 * 1024 * 1024


def wants_stream(request: Request[Any, Any, Any]) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def sse(stream: AsyncIterator[ChatEvent]) -> ServerSentEvent:
    async def encode() -> AsyncIterator[ServerSentEventMessage]:
        async for event in stream:
            yield ServerSentEventMessage(event=event.event, data=to_json(event.data))

    return ServerSentEvent(encode(), status_code=200)


async def finished_events(message: Message) -> AsyncIterator[ChatEvent]:
    """A reply that already finished streams as start + complete, so late listeners still get it."""
    yield events.stream_start(
        StreamStart(id=message.id, conversation_id=message.conversation_id, parent_id=message.parent_id)
    )
    yield events.complete(message)


async def reply_response(
    reply: ReplyStream | Pending, request: Request[Any, Any, Any], status: int = 201
) -> Response[Any]:
    if isinstance(reply, Pending):  # no reply now, or (202) one queued: it streams to the room when it starts
        body = Exchange(user_message=reply.user_message, assistant_message=None, queued=reply.queued)
        return Response(body, status_code=202 if reply.queued else status)
    if wants_stream(request):
        return sse(reply.stream())
    message = await reply.result()
    return Response(Exchange(user_message=reply.user_message, assistant_message=message), status_code=status)


class PromptView(msgspec.Struct, kw_only=True):
    model: str
    budget: int
    total_tokens: int
    dropped_messages: int
    sections: list[PromptSection]


class ImportForm(msgspec.Struct):
    file: UploadFile
    character_id: str = ""
    # A group chat: its characters, comma-separated (each line's `name` says which one spoke).
    character_ids: str = ""

    def cast(self) -> list[str]:
        ids = [part.strip() for part in self.character_ids.split(",") if part.strip()]
        return ids or ([self.character_id] if self.character_id else [])


class ConversationController(Controller):
    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get("/")
    async def list_conversations(
        self,
        chat: Chat,
        user: CurrentUser,
        archived: FromQuery[bool | None] = None,
        character_id: FromQuery[str | None] = None,
    ) -> ConversationList:
        return ConversationList(items=await chat.list_conversations(user, character_id=character_id, archived=archived))

    @post("/", status_code=201)
    async def create_conversation(
        self, data: JSONBody[CreateConversation], cast: Cast, replies: Replies, user: CurrentUser
    ) -> Conversation:
        """Start a conversation with `character_id`; the greeting (and the card's alternate greetings, as
        its swipes) come first. With `character_ids` (two or more), a group chat: each member greets in
        turn, and `strategy`, `card_mode`, `auto_mode`... set how it goes on."""
        conversation = await cast.start(user, data)
        replies.warm_soon(user, conversation.id)
        return conversation

    @get("/search")
    async def search_messages(self, chat: Chat, user: CurrentUser, q: FromQuery[str]) -> SearchResults:
        """Full-text search over the user's own messages (every word, the last as a prefix)."""
        return SearchResults(items=await chat.search(user, q))

    @post("/import", status_code=201)
    async def import_conversation(self, data: MultipartBody[ImportForm], chat: Chat, user: CurrentUser) -> Conversation:
        """Import a SillyTavern chat (JSONL; a group chat with `character_ids`) or a Bostonia JSON export as a
        new conversation."""
        content = await data.file.read(MAX_CHAT_FILE + 1)
        if len(content) > MAX_CHAT_FILE:
            raise PayloadTooLarge(f"chat files are limited to {MAX_CHAT_FILE // (1024 * 1024)} MB")
        return await chat.import_chat(user, data.cast(), content)

    @get("/{conversation_id:str}")
    async def get_conversation(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> Conversation:
        return await chat.get_conversation(user, conversation_id, access="read")

    @patch("/{conversation_id:str}")
    async def update_conversation(
        self, conversation_id: FromPath[str], data: JSONBody[UpdateConversation], cast: Cast, user: CurrentUser
    ) -> Conversation:
        """Rename, archive, choose the persona (`""` for the default) or set sampler overrides; in a group
        chat, change its `members` (the whole cast, in order) and `strategy`, `card_mode`, `auto_mode`..."""
        return await cast.update(user, conversation_id, data)

    @delete("/{conversation_id:str}", status_code=204)
    async def delete_conversation(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> None:
        await chat.delete_conversation(user, conversation_id)

    @get("/{conversation_id:str}/branches")
    async def list_branches(self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser) -> ConversationList:
        """Every conversation related to this one by branching (its root first)."""
        return ConversationList(items=await chat.family(user, conversation_id))

    @post("/{conversation_id:str}/branch", status_code=201)
    async def branch(
        self, conversation_id: FromPath[str], data: JSONBody[BranchRequest], chat: Chat, user: CurrentUser
    ) -> Conversation:
        """A new conversation sharing this one's history up to `message_id`."""
        return await chat.branch(user, conversation_id, data.message_id)

    @get("/{conversation_id:str}/messages")
    async def list_messages(
        self,
        conversation_id: FromPath[str],
        chat: Chat,
        user: CurrentUser,
        limit: FromQuery[int | None] = None,
        before: FromQuery[str | None] = None,
    ) -> MessageList:
        """The active path, oldest first; `limit` (up to 10,000) and `before=<id>` page backwards."""
        items, has_more = await chat.messages(user, conversation_id, limit=limit, before=before)
        return MessageList(items=items, has_more=has_more)

    @post("/{conversation_id:str}/messages", status_code=201)
    async def send_message(
        self,
        conversation_id: FromPath[str],
        data: JSONBody[SendMessage],
        replies: Replies,
        user: CurrentUser,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """Send a message and get the character's reply (JSON, or SSE with `Accept: text/event-stream`). In a
        group chat or shared room a message sent while a reply is generated is stored at once and answered
        in turn (202, `queued`: replies ahead); an out-of-character one (`ooc`) gets no reply."""
        return await reply_response(await replies.send(user, conversation_id, data.content, ooc=data.ooc), request)

    @post("/{conversation_id:str}/trigger", status_code=201)
    async def trigger(
        self,
        conversation_id: FromPath[str],
        data: JSONBody[Trigger],
        replies: Replies,
        user: CurrentUser,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """That character of the chat replies now (muted or not); 202 if it waits for the reply in flight."""
        return await reply_response(await replies.trigger(user, conversation_id, data.character_id), request)

    @get("/{conversation_id:str}/messages/{message_id:str}")
    async def get_message(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, user: CurrentUser
    ) -> Message:
        return await chat.message(user, conversation_id, message_id, access="read")

    @patch("/{conversation_id:str}/messages/{message_id:str}")
    async def edit_message(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        data: JSONBody[EditMessage],
        chat: Chat,
        user: CurrentUser,
    ) -> Message:
        return await chat.edit(user, conversation_id, message_id, data.content)

    @delete("/{conversation_id:str}/messages/{message_id:str}", status_code=200)
    async def delete_message(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, user: CurrentUser
    ) -> PathChange:
        """Delete a message and what followed it on its branch; answers with the new end of the path."""
        return await chat.delete_message(user, conversation_id, message_id)

    @get("/{conversation_id:str}/messages/{message_id:str}/siblings")
    async def list_siblings(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, user: CurrentUser
    ) -> MessageList:
        """The swipes of a message's turn, in order."""
        return MessageList(items=await chat.siblings(user, conversation_id, message_id))

    @post("/{conversation_id:str}/messages/{message_id:str}/select", status_code=200)
    async def select_message(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, user: CurrentUser
    ) -> PathChange:
        """Show this swipe (or branch point): the active path now runs through it."""
        return await chat.select(user, conversation_id, message_id)

    @post("/{conversation_id:str}/messages/{message_id:str}/swipe", status_code=200)
    async def swipe(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        chat: Chat,
        user: CurrentUser,
        direction: FromQuery[Literal["left", "right"]],
    ) -> PathChange:
        return await chat.swipe(user, conversation_id, message_id, direction)

    @post("/{conversation_id:str}/messages/{message_id:str}/regenerate", status_code=201)
    async def regenerate(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        replies: Replies,
        user: CurrentUser,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """A new reply for this turn: a new swipe of an assistant message, or an answer to a user message."""
        return await reply_response(await replies.regenerate(user, conversation_id, message_id), request)

    @post("/{conversation_id:str}/messages/{message_id:str}/continue", status_code=200)
    async def continue_message(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        replies: Replies,
        user: CurrentUser,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """Extend the last reply where it stopped."""
        return await reply_response(await replies.continue_reply(user, conversation_id, message_id), request, 200)

    @get("/{conversation_id:str}/messages/{message_id:str}/stream")
    async def stream_reply(
        self, conversation_id: FromPath[str], message_id: FromPath[str], chat: Chat, replies: Replies, user: CurrentUser
    ) -> ServerSentEvent:
        """Follow a reply by id: live while it is generated, else its final message. A client whose
        connection dropped mid-reply reconnects here."""
        await chat.get_conversation(user, conversation_id)
        if reply := replies.active_reply(conversation_id, message_id):
            return sse(reply.stream())
        message = await chat.message(user, conversation_id, message_id)
        if message.role != "assistant":  # a user's (or system) message is no reply: nothing streams
            raise NotFound("no reply with this id: the message is not a character's", code="not_a_reply")
        return sse(finished_events(message))

    @post("/{conversation_id:str}/cancel", status_code=200)
    async def cancel_reply(
        self, conversation_id: FromPath[str], replies: Replies, user: CurrentUser
    ) -> dict[str, bool]:
        """Stop the reply being generated; the text so far is kept as a partial message."""
        return {"cancelled": await replies.cancel(user, conversation_id)}

    @get("/{conversation_id:str}/prompt")
    async def inspect_prompt(
        self, conversation_id: FromPath[str], replies: Replies, user: CurrentUser, content: FromQuery[str | None] = None
    ) -> PromptView:
        """The prompt the model would get for `content` sent now, as ordered sections with token counts."""
        prompt = await replies.preview_prompt(user, conversation_id, content)
        return PromptView(
            model=await replies.prompt_model(user, conversation_id),
            budget=prompt.budget,
            total_tokens=prompt.tokens,
            dropped_messages=prompt.dropped_messages,
            sections=prompt.sections,
        )

    @get("/{conversation_id:str}/export")
    async def export(
        self, conversation_id: FromPath[str], chat: Chat, user: CurrentUser, format: FromQuery[str] = "jsonl"
    ) -> Response[str]:
        """Download: `jsonl` (SillyTavern chat), `txt`, or `json` (Bostonia: every branch)."""
        body, media_type, filename = await chat.export(user, conversation_id, format)
        stem, _, extension = filename.rpartition(".")
        return Response(body, media_type=media_type, headers=attachment(stem, extension))
