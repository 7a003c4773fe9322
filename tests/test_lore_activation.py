"""Lore activation in the chat prompt: keys in the latest messages bring entries in at a fixed depth."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from bostonia.lore.activation import is_active, key_matches
from bostonia.lore.schemas import LoreEntry
from tests.fakes import ScriptedModel
from tests.helpers import bearer

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
    import json

    response = client.post(
        "/api/v1/characters/import",
        headers=bearer(account),
        files={"file": ("sage.json", json.dumps(CARD).encode(), "application/json")},
    )
    assert response.status_code in (200, 201), response.text
    body = response.json()
    item = body["items"][0] if "items" in body else body
    return str(item["id"])


def test_matching_rules() -> None:
    entry = LoreEntry(keys=["Tower"], content="x")
    assert key_matches("Tower", "the old tower stood", entry)
    assert not key_matches("Tower", "the old tower stood", LoreEntry(keys=["Tower"], case_sensitive=True))
    whole = LoreEntry(keys=["cat"], match_whole_words=True)
    assert key_matches("cat", "a cat sat", whole) and not key_matches("cat", "concatenate", whole)
    assert key_matches("/dra(g|k)on/i", "a DRAKON", entry) and not key_matches("/(/", "((", entry)
    and_any = LoreEntry(
        keys=["river"], secondary_keys=["bridge", "ford"], selective=True, selective_logic=0, content="x"
    )
    assert is_active(and_any, "the river by the ford", "s") and not is_active(and_any, "the river", "s")
    not_any = LoreEntry(keys=["river"], secondary_keys=["bridge"], selective=True, selective_logic=2, content="x")
    assert is_active(not_any, "the river", "s") and not is_active(not_any, "river bridge", "s")
    and_all = LoreEntry(keys=["river"], secondary_keys=["a", "b"], selective=True, selective_logic=3, content="x")
    assert is_active(and_all, "river a b", "s") and not is_active(and_all, "river a", "s")
    never = LoreEntry(keys=["river"], probability=0, content="x")
    assert not is_active(never, "river", "s")


def test_card_lore_reaches_the_prompt_at_its_depth(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    character = import_card(client, alice)
    cid = client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(alice)).json()["id"]
    client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"content": "Tell me about the tower and the dragon."},
        headers=bearer(alice),
    )
    prompt = [m.content for m in model.prompts[-1]]
    system_prompt = prompt[0]
    assert "two moons" not in system_prompt  # lore never goes into the stable system prompt
    injected = [text for text in prompt[1:] if "two moons" in text or "owl" in text]
    assert injected and "The valley has two moons." in injected[0] and "friendly owl" in injected[0]
    assert "Disabled lore." not in "".join(prompt)
    assert "river bridge" not in "".join(prompt)  # the selective entry needs both its keys
    assert prompt[-2] == "Dragons sleep under the hill." and model.prompts[-1][-2].role == "assistant"  # depth 1
    view = client.get(
        f"/api/v1/conversations/{cid}/prompt", params={"content": "What of the river bridge?"}, headers=bearer(alice)
    ).json()
    assert any(s["name"] == "lore" and "river bridge fell" in s["content"] for s in view["sections"])
