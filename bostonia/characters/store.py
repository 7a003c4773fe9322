"""SQL for characters and their tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.cards.model import CharacterCard
from bostonia.characters.schemas import Character
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, to_json, utcnow

SELECT = """
    select c.*, (select json_group_array(t.tag) from character_tags t where t.character_id = c.id) as tags
    from characters c
"""
JSON_COLUMNS = ("alternate_greetings", "settings", "extensions", "tags")


def character_from_row(row: Any) -> Character:
    data = dict(row)
    for column in JSON_COLUMNS:
        data[column] = from_json(data[column], [])
    data["avatar_url"] = f"/media/avatars/{data['avatar_path']}" if data.get("avatar_path") else None
    return msgspec.convert(data, Character, strict=False)


class CharacterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, character_id: str) -> Character | None:
        row = await self.db.fetchone(SELECT + " where c.id = ? and c.deleted_at is null", (character_id,))
        return character_from_row(row) if row else None

    async def list_visible(
        self, *, viewer_id: str | None, content_tiers: Sequence[str], limit: int = 100
    ) -> list[Character]:
        """Public characters within the allowed content tiers, plus the viewer's own."""
        marks = ",".join("?" * len(content_tiers))
        rows = await self.db.fetchall(
            SELECT + f" where c.deleted_at is null and c.content_tier in ({marks})"
            " and (c.visibility = 'public' or c.creator_id = ?)"
            " order by c.is_bundled desc, c.total_conversations desc, c.created_at desc limit ?",
            (*content_tiers, viewer_id, limit),
        )
        return [character_from_row(row) for row in rows]

    async def create_from_card(
        self,
        character_id: str,
        card: CharacterCard,
        *,
        creator_id: str | None,
        visibility: str = "private",
        content_tier: str = "sfw",
        is_bundled: bool = False,
    ) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            now = utcnow()
            conn.execute(
                """insert into characters (id, creator_id, name, tagline, description, personality, scenario,
                    greeting, example_dialogue, system_prompt, post_history_instructions, alternate_greetings,
                    creator_notes, creator_name, character_version, visibility, content_tier, extensions,
                    card_extra, is_bundled, created_at, updated_at)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    character_id,
                    creator_id,
                    card.name,
                    card.tagline,
                    card.description,
                    card.personality,
                    card.scenario,
                    card.first_mes,
                    card.mes_example,
                    card.system_prompt,
                    card.post_history_instructions,
                    to_json(card.alternate_greetings),
                    card.creator_notes,
                    card.creator,
                    card.character_version,
                    visibility,
                    content_tier,
                    to_json(card.extensions),
                    to_json(card.extra),
                    int(is_bundled),
                    now,
                    now,
                ),
            )
            conn.executemany(
                "insert or ignore into character_tags (character_id, tag) values (?, ?)",
                [(character_id, tag) for tag in card.tags],
            )

        await self.db.write(insert)

    async def exists(self, character_id: str) -> bool:
        return bool(await self.db.fetchval("select exists(select 1 from characters where id = ?)", (character_id,)))
