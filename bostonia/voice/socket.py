"""Speech over WebSocket at `/api/v1/voice/stream` (protocol: docs/voice.md).

Client → server, JSON text frames `{"event", "data"}` like the chat socket: `voice:follow` (speak a
conversation's replies as they stream), `voice:unfollow`, `voice:speak` (a text, or a stored message),
`voice:stop` (barge-in: drop the speech; with `cancel_reply` also stop the reply being written), `ping`.
Server → client: `voice:following`, `voice:utterance:start`, one audio frame per sentence,
`voice:utterance:end`, `voice:stopped`, `pong`, `error`. An audio frame is binary — a 4-byte big-endian
header length, the JSON header `{utterance, index, text, format, sample_rate, samples, duration_ms,
message_id}`, then the audio — or, with `transport: "base64"`, a JSON `voice:sentence` event carrying
the same header and `audio` in base64.

One utterance is spoken at a time: a new one (the next reply, a played message) ends the one before.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from bostonia.auth.deps import Auth
from bostonia.chat.events import ChatEvent, ErrorNotice, StreamChunk, StreamComplete, StreamStart
from bostonia.chat.hub import Subscription
from bostonia.db.values import to_json
from bostonia.errors import BostoniaError, InvalidInput, RateLimited
from bostonia.http.auth import client_ip, resolve_user
from bostonia.http.deps import Limiter, Metrics
from bostonia.http.limits import check_frame, receive_frame
from bostonia.identity import User
from bostonia.ratelimit.service import RateLimiter
from bostonia.voice.audio import AudioFormat, encode
from bostonia.voice.deps import Voice
from bostonia.voice.schemas import Speed, Transport, VoiceId
from bostonia.voice.service import VoiceChoice, VoiceService
from bostonia.voice.speaker import SpokenSentence, Utterance

log = logging.getLogger(__name__)


class Frame(msgspec.Struct, forbid_unknown_fields=True):
    event: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class SpeechOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    voice_id: VoiceId | None = None  # default: the character's voice (following), else the server's
    speed: Speed | None = None
    skip_actions: bool = False
    format: AudioFormat = "pcm"
    transport: Transport = "binary"


class FollowFrame(SpeechOptions, forbid_unknown_fields=True, kw_only=True):
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SpeakFrame(SpeechOptions, forbid_unknown_fields=True, kw_only=True):
    text: str | None = None
    conversation_id: str | None = None  # with message_id: speak a stored message
    message_id: str | None = None


class StopFrame(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cancel_reply: bool = False  # also stop the reply of the followed conversation


class _Speaking:
    """The utterance being spoken, and the task sending its audio."""

    def __init__(self, number: int, utterance: Utterance, message_id: str | None) -> None:
        self.number = number
        self.utterance = utterance
        self.message_id = message_id
        self.task: asyncio.Task[None] | None = None


class VoiceSocketSession:
    def __init__(self, socket: WebSocket[Any, Any, Any], user: User, voice: VoiceService, limiter: RateLimiter) -> None:
        self.socket = socket
        self.user = user
        self.voice = voice
        self.limiter = limiter
        self.client_ip = client_ip(socket)
        self.client_id = uuid.uuid4().hex
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.speaking: _Speaking | None = None
        self.utterances = 0
        self.following: tuple[str, Subscription, asyncio.Task[None]] | None = None
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "voice:follow": self.follow,
            "voice:unfollow": self.unfollow,
            "voice:speak": self.speak,
            "voice:stop": self.stop,
            "ping": self.ping,
        }

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        finally:
            self._stop_speaking()
            self._unfollow()
            sender.cancel()

    # -- plumbing --------------------------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.outbox.put_nowait(to_json({"event": event, "data": data}))

    async def _send_loop(self) -> None:
        while True:
            frame = await self.outbox.get()
            try:
                if isinstance(frame, bytes):
                    await self.socket.send_bytes(frame)
                else:
                    await self.socket.send_text(frame)
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _receive_loop(self) -> None:
        while True:
            try:
                raw = await receive_frame(self.socket)
            except WebSocketDisconnect:
                return
            name = "?"
            try:
                await self.limiter.hit(self.user, self.client_ip)
                try:
                    frame = msgspec.json.decode(check_frame(raw), type=Frame)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise InvalidInput(
                        f"a frame is a JSON object {{event, data}}: {exc}", code="invalid_frame"
                    ) from None
                name = frame.event
                handler = self.handlers.get(frame.event)
                if handler is None:
                    raise InvalidInput(f"unknown event {frame.event!r}", code="unknown_event")
                await handler(frame.data)
            except RateLimited as exc:
                self.emit("error", {"code": exc.code, "message": exc.message, "retry_after": exc.retry_after})
            except BostoniaError as exc:
                self.emit("error", {"code": exc.code, "message": exc.message, "event": name})
            except Exception:
                log.exception("voice event %s failed", name)
                self.emit("error", {"code": "internal_error", "message": "internal server error", "event": name})

    @staticmethod
    def _data(data: dict[str, Any], shape: type[msgspec.Struct]) -> Any:
        try:
            return msgspec.convert(data, shape)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"invalid data: {exc}", code="invalid_frame") from None

    # -- speaking ------------------------------------------------------------------------------------

    def _start(self, utterance: Utterance, options: SpeechOptions, message_id: str | None) -> _Speaking:
        """Speak `utterance` from now on (ending whatever was being said)."""
        self._stop_speaking()
        self.utterances += 1
        speaking = self.speaking = _Speaking(self.utterances, utterance, message_id)
        self.emit(
            "voice:utterance:start",
            {
                "utterance": speaking.number,
                "message_id": message_id,
                "voice_id": utterance.voice.id,
                "speed": utterance.speed,
                "format": options.format,
                "sample_rate": utterance.voice.sample_rate,
            },
        )
        speaking.task = asyncio.create_task(self._send_audio(speaking, options))
        return speaking

    async def _send_audio(self, speaking: _Speaking, options: SpeechOptions) -> None:
        sentences = 0
        error: BostoniaError | None = None
        try:
            async for sentence in speaking.utterance:
                await self._send_sentence(speaking, sentence, options)
                sentences += 1
        except BostoniaError as exc:
            error = exc
        except Exception:
            log.exception("speaking failed")
            error = BostoniaError("speech synthesis failed", code="tts_failed")
        end: dict[str, Any] = {
            "utterance": speaking.number,
            "message_id": speaking.message_id,
            "sentences": sentences,
            "cancelled": speaking.utterance.cancelled,
        }
        if error is not None:
            end["error"] = {"code": error.code, "message": error.message}
        self.emit("voice:utterance:end", end)
        if self.speaking is speaking:
            self.speaking = None

    async def _send_sentence(self, speaking: _Speaking, sentence: SpokenSentence, options: SpeechOptions) -> None:
        speech = sentence.speech
        audio = speech.pcm
        if options.format != "pcm":
            audio = await asyncio.to_thread(encode, speech.pcm, speech.sample_rate, options.format)
        header = {
            "utterance": speaking.number,
            "index": sentence.index,
            "text": sentence.text,
            "message_id": speaking.message_id,
            "format": options.format,
            "sample_rate": speech.sample_rate,
            "samples": len(speech.pcm) // 2,
            "duration_ms": round(speech.seconds * 1000),
        }
        if speaking.utterance.cancelled:
            return
        if options.transport == "base64":
            self.emit("voice:sentence", {**header, "audio": base64.b64encode(audio).decode()})
        else:
            encoded = to_json(header).encode()
            self.outbox.put_nowait(struct.pack(">I", len(encoded)) + encoded + audio)

    def _stop_speaking(self) -> bool:
        speaking, self.speaking = self.speaking, None
        if speaking is None:
            return False
        speaking.utterance.cancel()
        return True

    # -- events ----------------------------------------------------------------------------------------

    async def follow(self, data: dict[str, Any]) -> None:
        frame: FollowFrame = self._data(data, FollowFrame)
        self.voice.check_format(frame.format)
        choice = await self.voice.conversation_voice(
            self.user, frame.conversation_id, voice_id=frame.voice_id, speed=frame.speed
        )
        self._unfollow()
        subscription = await self.voice.follow(self.user, frame.conversation_id, self.client_id)
        # Nothing is awaited between subscribing and reading the reply in flight: no chunk falls between.
        reply = self.voice.replies.active_reply(frame.conversation_id)
        catch_up = reply.catch_up() if reply is not None and not reply.finished else []
        task = asyncio.create_task(self._narrate(subscription, choice, frame, catch_up))
        self.following = (frame.conversation_id, subscription, task)
        await self.voice.warm(choice.voice)  # ready to speak when it says so: the first sentence pays no load
        self.emit(
            "voice:following",
            {
                "conversation_id": frame.conversation_id,
                "voice_id": choice.voice.id,
                "speed": choice.speed,
                "format": frame.format,
                "sample_rate": choice.voice.sample_rate,
            },
        )

    async def _narrate(
        self, subscription: Subscription, choice: VoiceChoice, options: FollowFrame, catch_up: list[ChatEvent]
    ) -> None:
        """Each reply of the conversation, spoken while it streams."""
        current: _Speaking | None = None

        def handle(event: ChatEvent) -> None:
            nonlocal current
            data = event.data
            if isinstance(data, StreamStart):
                utterance = self.voice.utterance(self.user, choice, skip_actions=options.skip_actions, quick_start=True)
                current = self._start(utterance, options, data.id)
            elif current is None:
                return
            elif isinstance(data, StreamChunk) and data.id == current.message_id:
                current.utterance.feed(data.content)
            elif (isinstance(data, StreamComplete) and data.message.id == current.message_id) or (
                isinstance(data, ErrorNotice) and data.id == current.message_id
            ):
                current.utterance.finish()  # after a failure too: say what was written before it
                current = None

        for event in catch_up:
            handle(event)
        async for event in subscription:
            handle(event)

    async def unfollow(self, data: dict[str, Any]) -> None:
        self._unfollow()
        self.emit("voice:unfollowed", {})

    def _unfollow(self) -> None:
        if self.following is not None:
            _cid, subscription, task = self.following
            subscription.close()
            task.cancel()
            self.following = None

    async def speak(self, data: dict[str, Any]) -> None:
        frame: SpeakFrame = self._data(data, SpeakFrame)
        self.voice.check_format(frame.format)
        if frame.message_id and frame.conversation_id:
            text = await self.voice.message_text(self.user, frame.conversation_id, frame.message_id)
            choice = await self.voice.conversation_voice(
                self.user, frame.conversation_id, voice_id=frame.voice_id, speed=frame.speed
            )
        elif frame.text is not None:
            text = frame.text
            choice = VoiceChoice(self.voice.voice(frame.voice_id), frame.speed or 1.0)
        else:
            raise InvalidInput("speak needs text, or a conversation_id and message_id", code="invalid_frame")
        self.voice.check_text(text)
        utterance = self.voice.utterance(self.user, choice, skip_actions=frame.skip_actions).say(text)
        self._start(utterance, frame, frame.message_id)

    async def stop(self, data: dict[str, Any]) -> None:
        frame: StopFrame = self._data(data, StopFrame)
        stopped = self._stop_speaking()
        reply_cancelled = False
        if frame.cancel_reply and self.following is not None:
            reply_cancelled = await self.voice.cancel_reply(self.user, self.following[0])
        self.emit("voice:stopped", {"speech_stopped": stopped, "reply_cancelled": reply_cancelled})

    async def ping(self, data: dict[str, Any]) -> None:
        self.emit("pong", data)


@websocket("/api/v1/voice/stream")
async def voice_socket(
    socket: WebSocket[Any, Any, Any], auth: Auth, voice: Voice, limiter: Limiter, metrics: Metrics
) -> None:
    """Speech streamed sentence by sentence (docs/voice.md). Authenticate like `/ws`: the session cookie,
    `?token=<access token>` or a Bearer header."""
    user = await resolve_user(socket, auth)
    if user is None:
        await socket.close(code=4401, reason="authentication required")
        return
    await socket.accept()
    metrics.active_websockets.inc()
    try:
        await VoiceSocketSession(socket, user, voice, limiter).run()
    finally:
        metrics.active_websockets.dec()
