"""Extraction (grounded, citing sources), user-written facts, extraction jobs, rolling summaries."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.config import Settings
from bostonia.memory import summaries
from bostonia.memory.extraction import Proposal, ground, parse_proposals, third_person
from bostonia.memory.grounding import check
from bostonia.memory.records import Turn
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, make_settings
from tests.test_memory_prompt import import_long_chat
from tests.test_memory_recall import say, settle, start_chat

MEMORY = "/api/v1/memory"


@pytest.fixture
def settings() -> Settings:
    memory = {"embedder": "hashing", "extraction": True, "extraction_quiet_seconds": 0, "summaries": True}
    return make_settings(memory=memory)


@pytest.fixture
def services(settings: Settings, model: ScriptedModel) -> Services:
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(model))
    return build_services(settings, plugins)


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(settings, services=services)) as client:
        yield client


def until(check_fn: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check_fn()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def memories(client: TestClient[Any], account: dict[str, Any], conversation: str) -> dict[str, Any]:
    return dict(client.get(f"{MEMORY}/{conversation}", headers=bearer(account)).json())


def answer(*items: tuple[str, str, int]) -> list[str]:
    return [json.dumps({"memories": [{"kind": k, "content": c, "importance": i} for k, c, i in items]})]


# -- the pieces ---------------------------------------------------------------------------------------


def test_parsing_takes_the_json_and_nothing_else() -> None:
    assert parse_proposals('{"memories": [{"kind": "fact", "content": " Ren  has a dog ", "importance": 9}]}') == [
        parse_proposals('{"memories": [{"kind": "fact", "content": "Ren has a dog", "importance": 5}]}')[0]  # type: ignore[index]
    ]
    wrapped = (
        'Sure! Here it is: {"memories": [{"kind": "event", "content": "Ren moved", "importance": 2}]} Hope it helps'
    )
    assert [p.kind for p in parse_proposals(wrapped) or []] == ["event"]
    assert parse_proposals("I cannot do that.") is None
    assert parse_proposals('{"memories": "lots"}') is None
    assert parse_proposals('{"memories": [{"kind": "gossip", "content": "x", "importance": 1}]}') == []


LABELLED = [
    # (source, memory, supported)
    ("I hate spiders, they terrify me.", "Ren loves spiders", False),
    ("I hate spiders, they terrify me.", "Ren hates spiders", True),
    ("I'm terrified of spiders.", "Ren is not afraid of spiders", False),
    ("I don't eat meat, I've been vegetarian since I was sixteen.", "Ren eats meat", False),
    ("I don't eat meat, I've been vegetarian since I was sixteen.", "Ren has been vegetarian since sixteen", True),
    ("My sister Leah moved to Montreal.", "Ren's sister Leah moved to Montreal", True),
    ("My sister Leah moved to Montreal.", "Ren's sister Anna moved to Toronto", False),
    ("I ran the race in two hours and eleven minutes.", "Ren ran the race in 3 hours", False),
    ("I can't whistle, never could.", "Ren can whistle", False),
    ("I can't whistle, never could.", "Ren cannot whistle", True),
    ("We adopted a beagle puppy named Biscuit.", "Ren adopted a beagle named Biscuit", True),
    ("We adopted a beagle puppy named Biscuit.", "Ren likes to go skiing in the Alps", False),
]


@pytest.mark.parametrize(("source", "memory", "supported"), LABELLED)
def test_grounding_keeps_only_what_the_messages_say(source: str, memory: str, supported: bool) -> None:
    assert check(memory, [source], names=["Ren", "Mira"]).kept is supported


def test_grounded_memories_cite_the_message_that_says_it() -> None:
    turn = Turn(
        reply_id="r",
        reply="A beagle! What's his name?",
        prompt_id="p",
        prompt="We adopted a beagle puppy called Biscuit.",
        created_at="2026-01-01T00:00:00Z",
    )
    proposals = parse_proposals(
        answer(("fact", "Ren adopted a beagle called Biscuit", 4), ("preference", "Ren loves cats", 3))[0]
    )
    kept = ground(proposals or [], turn, ("Ren", "Mira"))
    assert [(g.proposal.content, g.sources) for g in kept] == [("Ren adopted a beagle called Biscuit", ["p"])]
    assert 0 < kept[0].importance <= 1


def turn_of(said: str, reply: str) -> Turn:
    return Turn(reply_id="r", reply=reply, prompt_id="p", prompt=said, created_at="2026-01-01T00:00:00Z")


def kept_of(content: str, said: str, reply: str) -> list[tuple[str, list[str]]]:
    return [(g.proposal.content, g.sources) for g in ground([Proposal("fact", content)], turn_of(said, reply), NAMES)]


NAMES = ("Ren", "Mira")


def test_a_proposal_keeps_its_supported_sentences_up_to_the_first_invented_one() -> None:
    said = "I'm scared of flying, I always take the train."
    padded = "I'm scared of flying. I take the train. I'm a brave person. I'm a brave person."
    assert kept_of(padded, said, "Trains are nice.") == [("Ren is scared of flying. Ren takes the train.", ["p"])]
    # The first sentence invented: what leans on it goes too, even where its words are in the messages.
    invented = "Ren's sister Anna moved to Montreal. She loves the city of Montreal."
    assert kept_of(invented, "My sister Leah moved to Montreal.", "Montreal is lovely.") == []


def test_a_first_person_memory_is_said_of_whoever_said_it() -> None:
    assert third_person("I quit my job at the bank.", "Ren") == "Ren quit Ren's job at the bank."
    assert third_person("I love hiking and I carry an EpiPen.", "Ren") == "Ren loves hiking and Ren carries an EpiPen."
    assert (
        third_person("I'm not a morning person, I have a cat.", "Ren") == "Ren is not a morning person, Ren has a cat."
    )
    assert kept_of("I have a grey cat called Pickle.", "I have a grey cat called Pickle.", "Pickle!") == [
        ("Ren has a grey cat called Pickle.", ["p"])
    ]
    assert kept_of("I will catch the spiders for you.", "I hate spiders.", "I will catch the spiders for you.") == [
        ("Mira will catch the spiders for you.", ["r"])
    ]


def test_the_user_s_fact_is_not_kept_as_the_character_s() -> None:
    said = "My brother Theo runs a ramen shop in Toronto."
    assert kept_of("Mira runs a ramen shop in Toronto.", said, "I want to go!") == []
    assert kept_of("Ren's brother Theo runs a ramen shop in Toronto.", said, "I want to go!") == [
        ("Ren's brother Theo runs a ramen shop in Toronto.", ["p"])
    ]
    # Unless the user's message is about the character.
    assert kept_of("Mira loves ramen.", "Mira, you love ramen so much.", "I do!") != []


# -- through the app ----------------------------------------------------------------------------------


def test_each_turn_is_extracted_in_the_background(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = start_chat(client, alice)
    model.enqueue(
        ["Oh no, spiders!"],
        answer(
            ("preference", "alice hates spiders", 4),
            ("preference", "alice loves spiders", 4),
            ("fact", "alice has a sister named Zoe", 3),
        ),
    )
    exchange = say(client, alice, conversation, "I hate spiders so much.")
    found = until(
        lambda: (
            memories(client, alice, conversation)["extraction_pending"] == 0 and memories(client, alice, conversation)
        )
    )
    kept = found["memories"]
    assert [m["content"] for m in kept] == ["alice hates spiders"]  # the opposite and the invention are dropped
    assert kept[0]["source_message_ids"] == [exchange["user_message"]["id"]]
    assert kept[0]["memory_type"] == "preference" and kept[0]["origin"] == "extracted" and not kept[0]["is_pinned"]
    extraction = [r for r in model.requests if r.json_schema is not None]
    assert len(extraction) == 1, [r.messages[-1].content for r in extraction]
    assert "I hate spiders so much." in extraction[0].messages[-1].content
    # The memory is searchable, and it cites its message.
    settle(client, services)
    items = client.get(f"{MEMORY}/{conversation}/search", params={"q": "spiders"}, headers=bearer(alice)).json()[
        "items"
    ]
    assert any(
        i["memory_type"] == "preference" and i["source_message_ids"] == kept[0]["source_message_ids"] for i in items
    )
    # Editing the message it came from takes it back (and extracts the turn again).
    model.enqueue(answer(("preference", "alice likes snakes", 3)))
    edited = client.patch(
        f"/api/v1/conversations/{conversation}/messages/{exchange['user_message']['id']}",
        json={"content": "I like snakes."},
        headers=bearer(alice),
    )
    assert edited.status_code == 200
    until(lambda: [m["content"] for m in memories(client, alice, conversation)["memories"]] == ["alice likes snakes"])
    # Deleting it takes the memory along.
    client.delete(
        f"/api/v1/conversations/{conversation}/messages/{exchange['user_message']['id']}", headers=bearer(alice)
    )
    assert memories(client, alice, conversation)["memories"] == []


def test_facts_the_user_writes(
    client: TestClient[Any], services: Services, alice: dict[str, Any], bob: dict[str, Any], model: ScriptedModel
) -> None:
    model.enqueue(["Noted."], answer())
    conversation = start_chat(client, alice)
    exchange = say(client, alice, conversation, "My locker code is 4512.")
    message = exchange["user_message"]["id"]
    created = client.post(
        f"{MEMORY}/{conversation}/facts",
        json={"content": "alice's locker code is 4512", "source_message_ids": [message]},
        headers=bearer(alice),
    )
    assert created.status_code == 201, created.text
    fact = created.json()
    assert fact["is_pinned"] and fact["origin"] == "user" and fact["source_message_ids"] == [message]
    url = f"{MEMORY}/{conversation}/facts/{fact['id']}"
    items = client.get(f"{MEMORY}/{conversation}/search", params={"q": "locker code"}, headers=bearer(alice)).json()[
        "items"
    ]
    assert items[0]["content"] == "alice's locker code is 4512" and items[0]["memory_type"] == "fact"

    changed = client.patch(
        url, json={"content": "alice's locker code is 9090", "is_pinned": False}, headers=bearer(alice)
    )
    assert changed.status_code == 200 and changed.json()["content"].endswith("9090") and not changed.json()["is_pinned"]
    texts = [
        i["content"]
        for i in client.get(f"{MEMORY}/{conversation}/search", params={"q": "locker"}, headers=bearer(alice)).json()[
            "items"
        ]
    ]
    assert "alice's locker code is 9090" in texts and "alice's locker code is 4512" not in texts

    for bad in ({"content": "  "}, {"content": "x", "colour": "red"}, {"content": "x", "importance": 2}):
        assert client.post(f"{MEMORY}/{conversation}/facts", json=bad, headers=bearer(alice)).status_code in (400, 422)
    other = start_chat(client, bob)
    foreign = say(client, bob, other, "hi")["user_message"]["id"]
    stolen = client.post(
        f"{MEMORY}/{conversation}/facts", json={"content": "x", "source_message_ids": [foreign]}, headers=bearer(alice)
    )
    assert stolen.status_code == 404
    assert client.patch(url, json={"content": "mine now"}, headers=bearer(bob)).status_code == 404
    assert client.delete(url, headers=bearer(bob)).status_code == 404

    assert client.delete(url, headers=bearer(alice)).status_code == 204
    assert client.delete(url, headers=bearer(alice)).status_code == 404
    assert memories(client, alice, conversation)["memories"] == []


def test_relationships_and_an_extraction_job(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = import_long_chat(client, alice, messages=6)  # imported: nothing extracted on its own
    assert memories(client, alice, conversation)["extraction_pending"] == 3
    # Newest turn first: the middle one answers the message with the fact.
    model.enqueue(answer(), answer(("relationship", "Ren's sister Leah lives in Montreal", 4)), answer())
    started = client.post(f"{MEMORY}/extract", json={"conversation_id": conversation}, headers=bearer(alice))
    assert started.status_code == 202
    job = started.json()
    status = until(
        lambda: (
            (s := client.get(f"{MEMORY}/extract/{job['id']}", headers=bearer(alice)).json())["status"] == "done" and s
        )
    )
    assert status["turns_total"] == 3 and status["turns_done"] == 3 and status["kept"] == 1
    relationships = client.get(f"{MEMORY}/{conversation}/relationships", headers=bearer(alice)).json()["items"]
    assert [r["content"] for r in relationships] == ["Ren's sister Leah lives in Montreal"]
    assert client.get(f"{MEMORY}/extract/not-a-job", headers=bearer(alice)).status_code == 404


def test_a_long_chat_gets_a_summary_that_an_edit_takes_back(
    client: TestClient[Any],
    services: Services,
    alice: dict[str, Any],
    model: ScriptedModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(summaries, "CHUNK_CHARS", 100_000)
    services.chat.listeners.remove(services.memory.extractor)  # only summaries ask the model here
    model.enqueue(["Ren told Mira about Leah, who lives in Montreal, and they talked about the weather for ages."])
    conversation = import_long_chat(client, alice, messages=80)
    summary = until(lambda: client.get(f"{MEMORY}/{conversation}/summary", headers=bearer(alice)).json()["summary"])
    assert summary["content"].startswith("Ren told Mira about Leah")
    assert summary["message_count"] == 80 - summaries.KEEP_RECENT
    view = client.get(
        f"/api/v1/conversations/{conversation}/prompt", params={"content": "hi"}, headers=bearer(alice)
    ).json()
    story = [s for s in view["sections"] if s["name"] == "summary"]
    assert story and "The story so far: Ren told Mira" in story[0]["content"]
    # Editing a covered message makes the summary stale: it is dropped (and written again in the background).
    messages = client.get(f"/api/v1/conversations/{conversation}/messages", headers=bearer(alice)).json()["items"]
    model.enqueue(["A new summary after the edit."])
    client.patch(
        f"/api/v1/conversations/{conversation}/messages/{messages[5]['id']}",
        json={"content": "Changed."},
        headers=bearer(alice),
    )
    redone = until(
        lambda: (
            (s := client.get(f"{MEMORY}/{conversation}/summary", headers=bearer(alice)).json()["summary"])
            and s["id"] != summary["id"]
            and s
        )
    )
    assert redone["content"] == "A new summary after the edit."


def test_a_reader_that_finds_a_stale_summary_keeps_the_one_written_meanwhile(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    """A prompt build read the stale summary, the worker wrote the new one, then the build dropped the stale
    one: only that one goes (dropping the conversation's all lost the new summary and generated it again)."""
    services.chat.listeners.remove(services.memory.extractor)
    model.enqueue(["The first summary."])
    conversation = import_long_chat(client, alice, messages=80)
    first = until(lambda: client.get(f"{MEMORY}/{conversation}/summary", headers=bearer(alice)).json()["summary"])
    store, summarizer = services.memory.summarizer.store, services.memory.summarizer
    with client.portal() as portal:
        path = portal.call(services.chat.conversations.path, conversation)
        stale = portal.call(store.newest, conversation, 3)
        fresh = summaries.StoredSummary(**{**msgspec.structs.asdict(stale[0]), "id": "fresh", "content": "Fresh."})
        portal.call(lambda: store.add(fresh, token_count=2))
        original = store.newest

        async def read_before_the_worker_wrote(conversation_id: str, count: int) -> list[summaries.StoredSummary]:
            return [s for s in await original(conversation_id, count) if s.id != "fresh"]

        stale_path = [*path[:5], msgspec.structs.replace(path[5], content="Changed."), *path[6:]]
        store.newest = read_before_the_worker_wrote  # type: ignore[method-assign]
        assert portal.call(summarizer.usable, conversation, stale_path) == []
        store.newest = original  # type: ignore[method-assign]
        assert [s.id for s in portal.call(store.newest, conversation, 3)] == ["fresh"]
        assert portal.call(summarizer.current, conversation, path) == fresh
    assert first["id"] != "fresh"


def test_summaries_wait_for_the_recall_index_to_catch_up(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    """An imported long chat is made searchable first: its summaries' generation would take the cores."""
    services.chat.listeners.remove(services.memory.extractor)
    indexed = threading.Event()

    async def index_caught_up() -> None:
        while not indexed.is_set():
            await asyncio.sleep(0.02)

    services.memory.summarizer.indexed = index_caught_up
    model.enqueue(["The story so far."])
    conversation = import_long_chat(client, alice, messages=80)
    time.sleep(0.5)
    assert model.requests == []  # no summary while the index is behind
    indexed.set()
    summary = until(lambda: client.get(f"{MEMORY}/{conversation}/summary", headers=bearer(alice)).json()["summary"])
    assert summary["content"] == "The story so far."


def test_extraction_waits_for_a_quiet_conversation(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    """A reply right after another never finds the model busy extracting (nor its KV state swapped out)."""
    services.memory.extractor.quiet_seconds = 1.0
    conversation = start_chat(client, alice)
    model.enqueue(["Noted."], ["And noted."], answer(("fact", "alice has a blue kite", 2)), answer())
    say(client, alice, conversation, "I have a blue kite.")
    say(client, alice, conversation, "It flies well.")
    asked = lambda: [r for r in model.requests if r.json_schema is not None]  # noqa: E731
    assert asked() == []  # both replies came first
    until(lambda: len(asked()) == 2, timeout=20)
    assert [m["content"] for m in memories(client, alice, conversation)["memories"]] == ["alice has a blue kite"]
