"""Speech for characters: the voices on offer, a character's voice and pace, speaking a text or a reply
while it streams, and transcribing push-to-talk recordings.

All speech work (synthesis per sentence, transcription per recording) goes through one `FairScheduler`:
a bounded pool of threads, users taking turns. Who may hear what is the chat's rule: a conversation's
replies and messages only for its owner (`ChatService.get_conversation`), a character's voice settings
for whoever may see the character and changed only by whoever may edit it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bostonia.characters.service import CharacterService
from bostonia.chat.hub import ConversationHub, Subscription
from bostonia.chat.replies import ReplyService
from bostonia.chat.service import ChatService
from bostonia.config import VoiceConfig
from bostonia.errors import InvalidInput, NotFound, PayloadTooLarge, Unavailable
from bostonia.identity import User
from bostonia.voice.audio import AudioFormat, available_formats, encode
from bostonia.voice.engine import Speech, SpeechEngine, VoiceCatalog, VoiceFile
from bostonia.voice.scheduler import FairScheduler
from bostonia.voice.schemas import (
    CharacterVoice,
    CharacterVoiceUpdate,
    SynthesizeRequest,
    Transcript,
    VoiceList,
    VoiceOut,
)
from bostonia.voice.speaker import Utterance
from bostonia.voice.store import CharacterVoiceStore
from bostonia.voice.stt import WhisperTranscriber

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechAudio:
    content: bytes
    format: AudioFormat
    sample_rate: int
    seconds: float
    sentences: int


@dataclass(frozen=True)
class VoiceChoice:
    voice: VoiceFile
    speed: float


class VoiceService:
    def __init__(
        self,
        catalog: VoiceCatalog,
        engine: SpeechEngine,
        scheduler: FairScheduler,
        store: CharacterVoiceStore,
        config: VoiceConfig,
        *,
        characters: CharacterService,
        chat: ChatService,
        replies: ReplyService,
        hub: ConversationHub,
        transcriber: WhisperTranscriber | None = None,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.scheduler = scheduler
        self.store = store
        self.config = config
        self.characters = characters
        self.chat = chat
        self.replies = replies
        self.hub = hub
        self.transcriber = transcriber

    # -- voices ----------------------------------------------------------------------------------------

    def voices(self) -> VoiceList:
        voices = self.catalog.voices()
        default = self.catalog.get(None).id if voices else None
        items = [
            VoiceOut(
                id=v.id,
                name=v.name,
                language=v.language,
                quality=v.quality,
                sample_rate=v.sample_rate,
                speakers=v.speakers,
                source=v.source,
                is_default=v.id == default,
            )
            for v in voices
        ]
        return VoiceList(items=items, formats=list(available_formats()), speech_input=self.speech_input)

    @property
    def speech_input(self) -> bool:
        return self.transcriber is not None and self.transcriber.available

    def voice(self, voice_id: str | None) -> VoiceFile:
        return self.catalog.get(voice_id)

    def check_format(self, audio_format: AudioFormat) -> AudioFormat:
        if audio_format not in available_formats():
            raise InvalidInput(
                f"{audio_format} is not available here; use one of {', '.join(available_formats())}",
                code="unsupported_format",
            )
        return audio_format

    async def warm(self, voice: VoiceFile) -> None:
        """Load `voice` on a worker now, so the first sentence of a reply does not wait for it."""
        await asyncio.to_thread(self.engine.load, voice)

    # -- speaking ----------------------------------------------------------------------------------------

    def check_text(self, text: str) -> str:
        if len(text) > self.config.max_text_chars:
            raise PayloadTooLarge(
                f"text to speak is limited to {self.config.max_text_chars} characters (got {len(text)})",
                code="text_too_long",
                details={"field": "text", "max": self.config.max_text_chars},
            )
        if not text.strip():
            raise InvalidInput("text must not be blank", details={"field": "text"})
        return text

    def utterance(
        self, user: User, choice: VoiceChoice, *, skip_actions: bool = False, quick_start: bool = False
    ) -> Utterance:
        """`quick_start` (a reply being written): the first sentence is cut at its first comma."""
        return Utterance(
            self.scheduler,
            self.engine,
            owner=user.id,
            voice=choice.voice,
            speed=choice.speed,
            skip_actions=skip_actions,
            max_sentence_chars=self.config.max_sentence_chars,
            quick_start=quick_start,
        )

    async def synthesize(self, user: User, request: SynthesizeRequest) -> SpeechAudio:
        """The whole text as one file (synthesised sentence by sentence, taking turns with other users)."""
        self.check_text(request.text)
        audio_format = self.check_format(request.format)
        choice = VoiceChoice(self.voice(request.voice_id), request.speed)
        utterance = self.utterance(user, choice, skip_actions=request.skip_actions).say(request.text)
        pcm: list[bytes] = []
        rate = choice.voice.sample_rate
        count = 0
        try:
            async for sentence in utterance:
                pcm.append(sentence.speech.pcm)
                rate = sentence.speech.sample_rate
                count += 1
        finally:
            utterance.cancel()  # the client went away: stop synthesising what nobody will hear
        if not count:
            raise InvalidInput("the text has nothing to say out loud", code="nothing_to_say")
        speech = Speech(b"".join(pcm), rate)
        content = await asyncio.to_thread(encode, speech.pcm, rate, audio_format)
        return SpeechAudio(content, audio_format, rate, round(speech.seconds, 3), count)

    # -- characters and conversations ------------------------------------------------------------------

    async def character_voice(self, viewer: User | None, character_id: str) -> CharacterVoice:
        await self.characters.get(viewer, character_id)  # visible, or NotFound
        return await self.store.get(character_id)

    async def set_character_voice(self, user: User, character_id: str, update: CharacterVoiceUpdate) -> CharacterVoice:
        await self.characters.editable(user, character_id)
        voice_id = self.voice(update.voice_id).id if update.voice_id else None  # unknown: NotFound
        await self.store.set(character_id, voice_id, update.speed)
        return await self.store.get(character_id)

    async def conversation_voice(
        self, user: User, conversation_id: str, *, voice_id: str | None = None, speed: float | None = None
    ) -> VoiceChoice:
        """The voice a conversation's replies are spoken with: the one asked for, else the character's,
        else the server's default. The conversation must be the user's own."""
        conversation = await self.chat.get_conversation(user, conversation_id)
        setting = await self.store.get(conversation.character_id)
        try:
            voice = self.voice(voice_id or setting.voice_id)
        except NotFound:
            if voice_id:
                raise
            voice = self.voice(None)  # the character's voice file was removed from the server since
        return VoiceChoice(voice, speed if speed is not None else setting.speed)

    async def message_text(self, user: User, conversation_id: str, message_id: str) -> str:
        message = await self.chat.message(user, conversation_id, message_id)
        return message.content

    async def follow(self, user: User, conversation_id: str, client_id: str) -> Subscription:
        """The conversation's events from now on (its owner only)."""
        await self.chat.get_conversation(user, conversation_id)
        return self.hub.subscribe(conversation_id, client_id)

    async def cancel_reply(self, user: User, conversation_id: str) -> bool:
        return await self.replies.cancel(user, conversation_id)

    # -- speech input -------------------------------------------------------------------------------------

    async def transcribe(self, user: User, recording: bytes) -> Transcript:
        if self.transcriber is None or not self.transcriber.available:
            raise Unavailable("speech input is not installed on this server", code="stt_unavailable")
        if not recording:
            raise InvalidInput("the recording is empty", code="bad_audio")
        if len(recording) > self.config.max_recording_bytes:
            raise PayloadTooLarge(
                f"recordings are limited to {self.config.max_recording_bytes // 1024} KB", code="recording_too_large"
            )
        transcriber = self.transcriber
        return await self.scheduler.submit(user.id, lambda: transcriber.transcribe(recording))

    def shutdown(self) -> None:
        self.scheduler.shutdown()
