"""Building lorebook entries and running World Info scans in tests, without a database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.testing import TestClient

from bostonia.lore.activation import ScanContext, ScanResult, scan
from bostonia.lore.compiled import CompiledEntry, compile_book
from bostonia.lore.editing import new_entry
from bostonia.lore.schemas import EntryFields, Lorebook, LoreEntry, LoreSettings
from bostonia.lore.timed import EntryState
from tests.helpers import bearer


def entry(id: str, **fields: Any) -> LoreEntry:
    """An entry with SillyTavern's defaults for new entries (selective, AND ANY, order 100), then `fields`."""
    made = new_entry(EntryFields(**fields))
    made.id = id
    return made


def compiled(
    entries: Sequence[LoreEntry], settings: LoreSettings | None = None, *, source: str = "character", **book: Any
) -> list[CompiledEntry]:
    book.setdefault("recursive_scanning", True)
    lorebook = Lorebook(id=book.pop("id", "book"), name=book.pop("name", "Book"), entries=list(entries), **book)
    out = compile_book(lorebook, source, settings or LoreSettings(), "Sage", "Ren")
    return sorted(out, key=lambda e: -e.order)


def run(
    entries: Sequence[LoreEntry] | Sequence[CompiledEntry],
    messages: Sequence[str],
    settings: LoreSettings | None = None,
    *,
    state: Sequence[EntryState] = (),
    chat_length: int | None = None,
    seed: str = "chat|1",
    context_tokens: int = 8192,
    **ctx: Any,
) -> ScanResult:
    """Scan `messages` (oldest first)."""
    settings = settings or LoreSettings()
    prepared = [e for e in entries if isinstance(e, CompiledEntry)] or compiled(entries, settings)  # type: ignore[arg-type]
    return scan(
        prepared,
        ScanContext(
            messages=list(messages)[::-1],
            settings=settings,
            chat_length=len(messages) if chat_length is None else chat_length,
            assistant_messages=ctx.pop("assistant_messages", len(messages) // 2),
            seed=seed,
            context_tokens=context_tokens,
            state=state,
            **ctx,
        ),
    )


def ids(result: ScanResult) -> list[str]:
    return [e.id for e, _ in result.activated]


def why(result: ScanResult, entry_id: str) -> str:
    return next(w.why for e, w in result.activated if e.id == entry_id)


# A V2 card with an embedded book, for tests that go through the import.
CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Sage",
        "first_mes": "Ask me about the valley.",
        "description": "A hermit.",
        "character_book": {
            "scan_depth": 2,
            "token_budget": 500,
            "entries": [
                {
                    "keys": ["tower"],
                    "content": "The tower is haunted by a friendly owl.",
                    "enabled": True,
                    "insertion_order": 10,
                    "extensions": {},
                },
                {
                    "keys": ["river"],
                    "secondary_keys": ["bridge"],
                    "selective": True,
                    "content": "The river bridge fell last winter.",
                    "enabled": True,
                    "insertion_order": 20,
                    "extensions": {"selectiveLogic": 0, "selective_logic": 0},
                },
                {
                    "keys": [],
                    "content": "The valley has two moons.",
                    "constant": True,
                    "enabled": True,
                    "insertion_order": 5,
                    "extensions": {},
                },
                {
                    "keys": ["tower"],
                    "content": "Disabled lore.",
                    "enabled": False,
                    "insertion_order": 1,
                    "extensions": {},
                },
                {
                    "keys": ["/dra(g|k)on/i"],
                    "content": "Dragons sleep under the hill.",
                    "enabled": True,
                    "insertion_order": 30,
                    "extensions": {"position": 4, "depth": 1, "role": 2},
                },
            ],
        },
    },
}


def import_card(client: TestClient[Any], account: dict[str, Any]) -> str:
    response = client.post(
        "/api/v1/characters/import",
        headers=bearer(account),
        files={"file": ("sage.json", json.dumps(CARD).encode(), "application/json")},
    )
    assert response.status_code in (200, 201), response.text
    body = response.json()
    item = body["items"][0] if "items" in body else body
    return str(item["id"])


@dataclass
class Card:
    """The card fields the prompt builder reads (`bostonia.prompt.builder.Card`)."""

    name: str = "Sage"
    description: str = "A hermit."
    personality: str = ""
    scenario: str = ""
    system_prompt: str = ""
    example_dialogue: str = ""
    post_history_instructions: str = ""
