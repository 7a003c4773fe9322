"""Lore activation in the chat prompt: keys in the latest messages bring entries in at a fixed depth."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from bostonia.llm.base import ChatMessage
from bostonia.lore.injector import lore_depth
from bostonia.lore.schemas import LoreSettings
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
    # The @depth 1 entry and the lore block (at the default depth, 1) both sit before the message being answered.
    assert prompt[-1] == "Tell me about the tower and the dragon." and injected[0] == prompt[-2]
    assert prompt[-3] == "Dragons sleep under the hill." and model.prompts[-1][-3].role == "assistant"
    view = client.get(
        f"/api/v1/conversations/{cid}/prompt", params={"content": "What of the river bridge?"}, headers=bearer(alice)
    ).json()
    assert any(s["name"] == "lore" and "river bridge fell" in s["content"] for s in view["sections"])


def test_the_warm_up_puts_the_lore_where_the_next_reply_will_have_it(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    """The prompt read while the user types (it ends with the character's reply) and the reply's prompt share
    everything before the lore message, and the lore sits after the character's last message in both: the
    model has read all of it when the user sends, and the reply re-reads from the lore on, not the exchange."""
    character = import_card(client, alice)
    cid = client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(alice)).json()["id"]
    for text in ("Tell me about the tower and the dragon.", "And the tower at night?"):
        client.post(f"/api/v1/conversations/{cid}/messages", json={"content": text}, headers=bearer(alice))
    url = f"/api/v1/conversations/{cid}/prompt"
    warm = client.get(url, headers=bearer(alice)).json()["sections"]
    reply = client.get(url, params={"content": "What of the tower?"}, headers=bearer(alice)).json()["sections"]
    shown = [s for s in warm if s["name"] != "post_history_instructions"]
    at = next(i for i, s in enumerate(shown) if s["name"] == "lore" and s["content"])
    assert shown[at - 1]["role"] == "assistant" and at + 1 == len(shown)  # after the character's last message
    assert [(s["name"], s["content"]) for s in warm[:at]] == [(s["name"], s["content"]) for s in reply[:at]]
    assert reply[at]["name"] == "lore" and reply[at + 1]["content"] == "What of the tower?"


def test_the_lore_depth_counts_from_the_message_being_answered() -> None:
    asked, answered = [ChatMessage("assistant", "Hi."), ChatMessage("user", "Well?")], [ChatMessage("assistant", "Hi.")]
    assert [lore_depth(LoreSettings(depth=d), asked) for d in (0, 2, 5)] == [0, 2, 5]
    assert [lore_depth(LoreSettings(depth=d), answered) for d in (0, 2, 5)] == [0, 1, 4]  # 0: after it either way
    assert lore_depth(LoreSettings(depth=2), []) == 2
