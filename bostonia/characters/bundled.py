"""The characters that ship with Bostonia, seeded into every new database."""

from __future__ import annotations

import json
import uuid
from importlib import resources

from bostonia.cards.model import parse_card
from bostonia.characters.store import CharacterStore

# Stable ids: the same bundled character has the same id on every install.
BUNDLED_NAMESPACE = uuid.UUID("6f1c8c3e-0f5e-4d8a-9a43-2b7f5f0b1a10")


async def seed_bundled_characters(store: CharacterStore) -> int:
    """Insert bundled characters that are not in the database yet; returns how many were added."""
    added = 0
    folder = resources.files("bostonia.characters") / "bundled"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        character_id = str(uuid.uuid5(BUNDLED_NAMESPACE, entry.name))
        if await store.exists(character_id):
            continue
        card = parse_card(json.loads(entry.read_text(encoding="utf-8")))
        await store.create_from_card(character_id, card, creator_id=None, visibility="public", is_bundled=True)
        added += 1
    return added
