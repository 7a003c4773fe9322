"""The real-time protocol over WebSocket at `/ws`: JSON frames `{"event": name, "data": {...}}`.

Client → server: `conversation:join`, `conversation:leave`, `message:send` (`ooc` optional),
`message:regenerate`, `message:continue`, `message:cancel`, `message:trigger` (a group's character
speaks now), `typing:start`, `typing:stop`, `ping`.
Server → client: `conversation:joined` (with who is `present`), `message:received`, `message:queued`,
`message:stream:start` (with the speaker), `message:stream:chunk`, `message:stream:retract` (moderation
withdrew the text so far: drop it), `message:stream:complete`, `message:updated`,
`conversation:path_changed`, `conversation:updated`, `typing:start`, `typing:stop` (naming the person),
`presence` (someone opened or left the room), `room:people`, `room:removed` (to someone removed: the
room's events end), `pong`, `error` `{code, message}`. The room events are described in docs/rooms.md.

Every frame also tells the rooms the socket joined that its person is still there (presence times out
after a minute of silence: clients ping meanwhile).

A socket receives the events of every conversation it joined (sending a message joins it), from any
source: other tabs, other sockets, the HTML UI, the HTTP API. A bad frame gets an `error` event and the
socket stays open. A socket that drops loses nothing: replies are generated and stored regardless.
Every frame counts against the user's rate limit like an HTTP request; a frame over the limit gets
`error` {code: "rate_limited", retry_after} and is not acted on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from bostonia.auth.deps import Auth
from bostonia.chat import events
from bostonia.chat.deps import Chat, Hub, Replies, Rooms
from bostonia.chat.events import ActiveReply, ChatEvent, ErrorNotice
from bostonia.chat.hub import ConversationHub, Subscription
from bostonia.chat.replies import ReplyService
from bostonia.chat.rooms import RoomService
from bostonia.chat.schemas import Conversation
from bostonia.chat.service import ChatService
from bostonia.db.values import to_json
from bostonia.errors import BostoniaError, InvalidInput, RateLimited
from bostonia.http.auth import client_ip, resolve_user
from bostonia.http.deps import Limiter, Metrics
from bostonia.http.limits import check_frame, receive_frame
from bostonia.identity import User
from bostonia.ratelimit.service import RateLimiter

log = logging.getLogger(__name__)


class Frame(msgspec.Struct, forbid_unknown_fields=True):
    event: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class ConversationRef(msgspec.Struct):
    conversation_id: str


class SendFrame(msgspec.Struct):
    conversation_id: str
    content: str
    ooc: bool = False


class TriggerFrame(msgspec.Struct):
    conversation_id: str
    character_id: str


class MessageRef(msgspec.Struct):
    conversation_id: str
    message_id: str


class SocketSession:
    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        user: User,
        chat: ChatService,
        replies: ReplyService,
        hub: ConversationHub,
        limiter: RateLimiter,
        rooms: RoomService,
    ) -> None:
        self.socket = socket
        self.user = user
        self.chat = chat
        self.replies = replies
        self.hub = hub
        self.rooms = rooms
        self.limiter = limiter
        self.client_ip = client_ip(socket)
        self.client_id = uuid.uuid4().hex
        self.outbox: asyncio.Queue[ChatEvent] = asyncio.Queue()
        self.joined: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            events.JOIN: self.join,
            events.LEAVE: self.leave,
            events.SEND: self.send_message,
            events.REGENERATE: self.regenerate,
            events.CONTINUE: self.continue_message,
            events.CANCEL: self.cancel,
            events.TRIGGER: self.trigger,
            events.TYPING_START: lambda data: self.typing(data, active=True),
            events.TYPING_STOP: lambda data: self.typing(data, active=False),
            events.PING: self.ping,
        }

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        finally:
            for conversation_id, (subscription, task) in list(self.joined.items()):
                subscription.close()
                task.cancel()
                await self.rooms.depart(self.user, conversation_id, self.client_id)
            sender.cancel()

    # -- plumbing ------------------------------------------------------------------------------------

    def emit(self, event: ChatEvent) -> None:
        self.outbox.put_nowait(event)

    async def _send_loop(self) -> None:
        while True:
            event = await self.outbox.get()
            try:
                await self.socket.send_text(to_json(event.frame()))
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _forward(self, subscription: Subscription) -> None:
        async for event in subscription:
            self.outbox.put_nowait(event)
        # The subscription ended from the server's side (removed from the room): no longer joined.
        joined = self.joined.get(subscription.conversation_id)
        if joined is not None and joined[0] is subscription:
            del self.joined[subscription.conversation_id]

    async def _receive_loop(self) -> None:
        while True:
            try:
                raw = await receive_frame(self.socket)
            except WebSocketDisconnect:
                return
            name = "?"
            for conversation_id in self.joined:  # any frame is a sign of life in the rooms joined
                self.rooms.still_here(conversation_id, self.user.id, self.client_id)
            try:
                await self.limiter.hit(self.user, self.client_ip)  # bad frames count too: no free spamming
                frame = self._parse(raw)
                name = frame.event
                handler = self.handlers.get(frame.event)
                if handler is None:
                    raise InvalidInput(f"unknown event {frame.event!r}", code="unknown_event")
                await handler(frame.data)
            except RateLimited as exc:
                self.emit(events.error(ErrorNotice(code=exc.code, message=exc.message, retry_after=exc.retry_after)))
            except BostoniaError as exc:
                self.emit(events.error(ErrorNotice(code=exc.code, message=exc.message, event=name)))
            except Exception:
                log.exception("websocket event %s failed", name)
                notice = ErrorNotice(code="internal_error", message="internal server error", event=name)
                self.emit(events.error(notice))

    def _parse(self, raw: str | bytes) -> Frame:
        try:
            return msgspec.json.decode(check_frame(raw), type=Frame)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidInput(f"a frame is a JSON object {{event, data}}: {exc}", code="invalid_frame") from None

    @staticmethod
    def _data(data: dict[str, Any], shape: type[msgspec.Struct]) -> Any:
        try:
            return msgspec.convert(data, shape)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"invalid data: {exc}", code="invalid_frame") from None

    # -- events -----------------------------------------------------------------------------------------

    async def join(self, data: dict[str, Any]) -> None:
        ref = self._data(data, ConversationRef)
        conversation = await self._join(ref.conversation_id)
        present = await self.rooms.arrive(self.user, conversation, self.client_id)
        reply = self.replies.active_reply(ref.conversation_id)
        active = ActiveReply(reply.message_id, reply.text) if reply else None
        self.emit(events.joined(ref.conversation_id, active, present))
        if reply is not None:  # catch up on the reply in flight, then the hub carries the rest
            for event in reply.catch_up():
                self.outbox.put_nowait(event)
        else:
            self.replies.warm_soon(self.user, ref.conversation_id)

    async def _join(self, conversation_id: str) -> Conversation:
        # The owner's, or a room the user was invited into; else NotFound.
        conversation = await self.chat.get_conversation(self.user, conversation_id, access="member")
        if conversation_id not in self.joined:
            subscription = self.hub.subscribe(conversation_id, self.client_id, self.user.id)
            self.joined[conversation_id] = (subscription, asyncio.create_task(self._forward(subscription)))
        return conversation

    async def leave(self, data: dict[str, Any]) -> None:
        ref = self._data(data, ConversationRef)
        if joined := self.joined.pop(ref.conversation_id, None):
            joined[0].close()
            joined[1].cancel()
            await self.rooms.depart(self.user, ref.conversation_id, self.client_id)

    async def send_message(self, data: dict[str, Any]) -> None:
        frame = self._data(data, SendFrame)
        await self._join(frame.conversation_id)
        await self.replies.send(self.user, frame.conversation_id, frame.content, ooc=frame.ooc)

    async def trigger(self, data: dict[str, Any]) -> None:
        frame = self._data(data, TriggerFrame)
        await self._join(frame.conversation_id)
        await self.replies.trigger(self.user, frame.conversation_id, frame.character_id)

    async def regenerate(self, data: dict[str, Any]) -> None:
        ref = self._data(data, MessageRef)
        await self._join(ref.conversation_id)
        await self.replies.regenerate(self.user, ref.conversation_id, ref.message_id)

    async def continue_message(self, data: dict[str, Any]) -> None:
        ref = self._data(data, MessageRef)
        await self._join(ref.conversation_id)
        await self.replies.continue_reply(self.user, ref.conversation_id, ref.message_id)

    async def cancel(self, data: dict[str, Any]) -> None:
        ref = self._data(data, ConversationRef)
        await self.replies.cancel(self.user, ref.conversation_id)

    async def typing(self, data: dict[str, Any], *, active: bool) -> None:
        ref = self._data(data, ConversationRef)
        await self._join(ref.conversation_id)
        await self.rooms.typing(self.user, ref.conversation_id, active=active, sender=self.client_id)

    async def ping(self, data: dict[str, Any]) -> None:
        self.emit(ChatEvent(events.PONG, data))


@websocket("/ws")
async def chat_socket(
    socket: WebSocket[Any, Any, Any],
    auth: Auth,
    chat: Chat,
    replies: Replies,
    hub: Hub,
    limiter: Limiter,
    metrics: Metrics,
    rooms: Rooms,
) -> None:
    """The chat protocol. Authenticate with the session cookie, `?token=<access token>` or a Bearer header."""
    user = await resolve_user(socket, auth)
    if user is None:
        await socket.close(code=4401, reason="authentication required")
        return
    await socket.accept()
    metrics.active_websockets.inc()
    try:
        await SocketSession(socket, user, chat, replies, hub, limiter, rooms).run()
    finally:
        metrics.active_websockets.dec()
