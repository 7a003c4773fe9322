"""SQL for the voice capability: the voice and pace of each character."""

from __future__ import annotations

from bostonia.db import Database
from bostonia.db.values import utcnow
from bostonia.voice.schemas import CharacterVoice


class CharacterVoiceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, character_id: str) -> CharacterVoice:
        row = await self.db.fetchone(
            "select voice_id, speed, updated_at from character_voices where character_id = ?", (character_id,)
        )
        if row is None:
            return CharacterVoice(character_id=character_id, voice_id=None, speed=1.0)
        return CharacterVoice(character_id=character_id, **row)

    async def set(self, character_id: str, voice_id: str | None, speed: float) -> None:
        await self.db.execute_write(
            """insert into character_voices (character_id, voice_id, speed, updated_at) values (?, ?, ?, ?)
               on conflict (character_id) do update set voice_id = excluded.voice_id, speed = excluded.speed,
               updated_at = excluded.updated_at""",
            (character_id, voice_id, speed, utcnow()),
        )
