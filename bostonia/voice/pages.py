"""The builder's voice picker: a fragment loaded into the character builder, saving on change (HTMX)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Template

from bostonia.errors import InvalidInput
from bostonia.http.deps import CurrentUser
from bostonia.ui.forms import Form
from bostonia.voice.deps import Voice
from bostonia.voice.schemas import CharacterVoiceUpdate


def _speed(raw: str | None) -> float:
    try:
        speed = float(raw or 1.0)
    except ValueError:
        raise InvalidInput("speed must be a number", details={"field": "speed"}) from None
    if not 0.5 <= speed <= 2.0:
        raise InvalidInput("speed must be between 0.5 and 2", details={"field": "speed"})
    return speed


class VoicePages(Controller):
    path = "/voice"
    include_in_schema = False

    async def _picker(self, voice: Voice, user: CurrentUser, character_id: str, saved: bool = False) -> Template:
        setting = await voice.character_voice(user, character_id)
        return Template(
            "_voice_picker.html",
            context={"setting": setting, "voices": voice.voices().items, "saved": saved, "user": user},
        )

    @get("/characters/{character_id:str}/picker")
    async def picker(self, character_id: FromPath[str], voice: Voice, user: CurrentUser) -> Template:
        await voice.characters.editable(user, character_id)
        return await self._picker(voice, user, character_id)

    @post("/characters/{character_id:str}/picker")
    async def save(self, character_id: FromPath[str], data: Form, voice: Voice, user: CurrentUser) -> Template:
        update = CharacterVoiceUpdate(voice_id=data.get("voice_id") or None, speed=_speed(data.get("speed")))
        await voice.set_character_voice(user, character_id, update)
        return await self._picker(voice, user, character_id, saved=True)
