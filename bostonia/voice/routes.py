"""Voice over HTTP: the voices, speaking a text as one file, a character's voice, push-to-talk
transcription. Streaming speech is the WebSocket in `socket.py`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody

from bostonia.http.deps import CurrentUser, Viewer
from bostonia.voice.audio import MEDIA_TYPES
from bostonia.voice.deps import Voice
from bostonia.voice.schemas import CharacterVoice, CharacterVoiceUpdate, SynthesizeRequest, Transcript, VoiceList


class VoiceController(Controller):
    path = "/api/v1/voice"
    tags = ["voice"]

    @get("/voices")
    async def list_voices(self, voice: Voice) -> VoiceList:
        """The bundled voice and every piper voice in the models folder; the audio formats on offer."""
        return voice.voices()

    @post("/synthesize", status_code=200)
    async def synthesize(self, data: JSONBody[SynthesizeRequest], voice: Voice, user: CurrentUser) -> Response[bytes]:
        """The text spoken as one file (`format`: wav, opus, mp3 or raw 16-bit pcm). Markdown, emoji and
        links are left out and numbers read as words; `skip_actions` leaves out *actions* too."""
        audio = await voice.synthesize(user, data)
        return Response(
            content=audio.content,
            media_type=MEDIA_TYPES[audio.format],
            headers={
                "x-sample-rate": str(audio.sample_rate),
                "x-audio-seconds": str(audio.seconds),
                "x-sentences": str(audio.sentences),
            },
        )

    @get("/characters/{character_id:str}")
    async def character_voice(self, character_id: FromPath[str], voice: Voice, viewer: Viewer) -> CharacterVoice:
        return await voice.character_voice(viewer, character_id)

    @put("/characters/{character_id:str}")
    async def set_character_voice(
        self, character_id: FromPath[str], data: JSONBody[CharacterVoiceUpdate], voice: Voice, user: CurrentUser
    ) -> CharacterVoice:
        """The character's voice and pace (its creator, or an admin for public and bundled ones)."""
        return await voice.set_character_voice(user, character_id, data)

    @post("/transcribe", status_code=200)
    async def transcribe(self, request: Request[Any, Any, Any], voice: Voice, user: CurrentUser) -> Transcript:
        """Push-to-talk: the request body is a recording (WebM/Ogg Opus from a browser, or WAV)."""
        return await voice.transcribe(user, await request.body())
