"""Lore activation in the chat prompt: keys in the latest messages bring entries in at a fixed depth."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.fakes import ScriptedModel
from tests.helpers import bearer
from tests.lore_support import entry, ids, import_card, run


def test_matching_rules() -> None:
    assert ids(run([entry("t", keys=["Tower"], content="x")], ["the old tower stood"])) == ["t"]
    assert ids(run([entry("t", keys=["Tower"], case_sensitive=True, content="x")], ["the old tower stood"])) == []
    whole = entry("c", keys=["cat"], match_whole_words=True, content="x")
    assert ids(run([whole], ["a cat sat"])) == ["c"] and ids(run([whole], ["concatenate"])) == []
    regex = entry("r", keys=["/dra(g|k)on/i"], content="x")
    assert ids(run([regex], ["a DRAKON"])) == ["r"]
    and_any = entry("a", keys=["river"], secondary_keys=["bridge", "ford"], content="x")
    assert ids(run([and_any], ["the river by the ford"])) == ["a"] and ids(run([and_any], ["the river"])) == []
    never = entry("n", keys=["river"], probability=0, content="x")
    assert ids(run([never], ["river"])) == []


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
