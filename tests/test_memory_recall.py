"""Recall: every message indexed as it is stored, edited or deleted; imports in the background; hybrid search."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.embeddings import HashingEmbedder, OnnxMiniLM
from bostonia.memory import vectors as vectors_module
from bostonia.memory.indexer import PASSAGE_CHARS, embed_messages, passages
from bostonia.memory.retrieval import Candidate, fuse, parse_time, read_query, terms_of
from tests.fakes import ScriptedModel
from tests.helpers import bearer, error_of

MEMORY = "/api/v1/memory"


def start_chat(client: TestClient[Any], account: dict[str, Any]) -> str:
    character = client.get("/api/v1/characters", headers=bearer(account)).json()["items"][0]["id"]
    return str(
        client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(account)).json()["id"]
    )


def say(client: TestClient[Any], account: dict[str, Any], conversation: str, text: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(account)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def settle(client: TestClient[Any], services: Services) -> None:
    """Wait for the background indexer (it runs on the app's event loop)."""
    with client.portal() as portal:
        portal.call(services.indexer.idle, 30)


def search(client: TestClient[Any], account: dict[str, Any], conversation: str, q: str, k: int = 5) -> Any:
    return client.get(f"{MEMORY}/{conversation}/search", params={"q": q, "k": k}, headers=bearer(account))


def test_stored_messages_are_indexed_and_searchable(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    conversation = start_chat(client, alice)
    model.enqueue(["A beagle! Wonderful."])
    exchange = say(client, alice, conversation, "We adopted a beagle puppy called Biscuit yesterday.")
    say(client, alice, conversation, "The weather is grey and rainy today.")
    settle(client, services)
    status = client.get(f"{MEMORY}/{conversation}/status", headers=bearer(alice)).json()
    # The greeting, two user messages and two replies.
    assert status == {"indexed_messages": 5, "pending": 0}
    found = search(client, alice, conversation, "beagle Biscuit")
    assert found.status_code == 200
    items = found.json()["items"]
    assert items[0]["source_message_ids"] == [exchange["user_message"]["id"]]
    assert items[0]["memory_type"] == "message" and "Biscuit" in items[0]["content"]
    assert {"content", "score", "memory_type", "source_message_ids"} <= set(items[0])
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)


def test_an_edit_replaces_the_old_text_and_a_delete_forgets_it(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    conversation = start_chat(client, alice)
    exchange = say(client, alice, conversation, "My favourite colour is turquoise.")
    settle(client, services)
    message = exchange["user_message"]["id"]
    edited = client.patch(
        f"/api/v1/conversations/{conversation}/messages/{message}",
        json={"content": "My favourite colour is vermilion."},
        headers=bearer(alice),
    )
    assert edited.status_code == 200
    settle(client, services)
    texts = [i["content"] for i in search(client, alice, conversation, "vermilion turquoise").json()["items"]]
    assert "My favourite colour is vermilion." in texts
    assert not any("turquoise" in text for text in texts)

    deleted = client.delete(f"/api/v1/conversations/{conversation}/messages/{message}", headers=bearer(alice))
    assert deleted.status_code == 200
    settle(client, services)
    assert not any(
        message in i["source_message_ids"] for i in search(client, alice, conversation, "vermilion").json()["items"]
    )

    def leftovers(conn: Any) -> tuple[int, int, int]:
        documents = conn.execute("select count(*) from memory_documents where conversation_id = ?", (conversation,))
        vectors = conn.execute("select count(*) from memory_vectors where conversation_id = ?", (conversation,))
        keys = conn.execute("select count(*) from memory_fts where memory_fts match 'vermilion'")
        return documents.fetchone()[0], vectors.fetchone()[0], keys.fetchone()[0]

    documents, vectors, keys = services.db.read_sync(leftovers)
    assert documents == vectors == 1  # only the greeting is left: the message and its reply went together
    assert keys == 0


def test_deleting_a_conversation_drops_its_index(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    conversation = start_chat(client, alice)
    say(client, alice, conversation, "Remember the lighthouse.")
    settle(client, services)
    assert client.delete(f"/api/v1/conversations/{conversation}", headers=bearer(alice)).status_code == 204
    counts = services.db.read_sync(
        lambda conn: (
            conn.execute("select count(*) from memory_documents").fetchone()[0],
            conn.execute("select count(*) from memory_vectors").fetchone()[0],
        )
    )
    assert counts == (0, 0)


def sillytavern_chat(messages: int) -> bytes:
    lines = [json.dumps({"user_name": "Ren", "character_name": "Mira", "create_date": "2026-01-01"})]
    for i in range(messages):
        text = f"Message number {i} about the garden." if i != 137 else "The spare key is under the blue flowerpot."
        lines.append(json.dumps({"name": "Ren" if i % 2 == 0 else "Mira", "is_user": i % 2 == 0, "mes": text}))
    return "\n".join(lines).encode()


def test_an_imported_chat_is_indexed_in_the_background(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    character = client.get("/api/v1/characters", headers=bearer(alice)).json()["items"][0]["id"]
    imported = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character},
        files={"file": ("chat.jsonl", sillytavern_chat(300), "application/jsonl")},
        headers=bearer(alice),
    )
    assert imported.status_code == 201
    conversation = imported.json()["id"]
    settle(client, services)
    assert client.get(f"{MEMORY}/{conversation}/status", headers=bearer(alice)).json() == {
        "indexed_messages": 300,
        "pending": 0,
    }
    items = search(client, alice, conversation, "where is the key hidden?").json()["items"]
    assert items[0]["content"] == "The spare key is under the blue flowerpot."
    assert items[0]["role"] == "assistant"  # message 137 was Mira's


def test_recall_reads_what_a_message_says_not_its_markup_or_reasoning(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    """A reasoning model's `<think>` block is not what the character said, and a styled reply's HTML is
    not what it says: neither is searched or recalled; the words between the tags are."""
    character = client.get("/api/v1/characters", headers=bearer(alice)).json()["items"][0]["id"]
    lines = [
        {"user_name": "Ren", "character_name": "Mira"},
        {"name": "Ren", "is_user": True, "mes": "Do you have pets?"},
        {
            "name": "Mira",
            "is_user": False,
            "mes": "<think>Ren asks about pets; maybe mention the xylophone lessons too.</think>\n\n"
            '<div class="status"><span style="color:tomato">Mood: cheerful</span></div>'
            "I keep a ginger cat named <b>Miso</b>. ![Miso asleep](https://example.com/miso.png)",
        },
    ]
    imported = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character},
        files={"file": ("chat.jsonl", "\n".join(json.dumps(x) for x in lines).encode(), "application/jsonl")},
        headers=bearer(alice),
    )
    conversation = imported.json()["id"]
    settle(client, services)
    found = search(client, alice, conversation, "ginger cat Miso").json()["items"]
    assert found[0]["content"] == "Mood: cheerful\nI keep a ginger cat named Miso. Miso asleep"
    for query in ("xylophone lessons", "tomato status span"):
        hits = search(client, alice, conversation, query).json()["items"]
        assert all("xylophone" not in i["content"] and "tomato" not in i["content"] for i in hits)
        assert all(i["memory_type"] != "message" or i["score"] < found[0]["score"] for i in hits)


def test_indexing_resumes_from_the_database_after_a_restart(services: Services) -> None:
    """Messages stored while nothing listened (a crash, an older version) are found at start-up."""

    async def scenario() -> int:
        await services.db.migrate()
        user, character = "u1", "c1"
        await services.db.write(
            lambda conn: (
                conn.execute("insert into users (id, email, display_name) values (?, 'u@x.test', 'U')", (user,)),
                conn.execute("insert into characters (id, name) values (?, 'C')", (character,)),
            )
        )
        conversation = await services.chat.conversations.create(user_id=user, character_id=character, greetings=["Hi"])
        await services.chat.conversations.append(
            conversation_id=conversation.id, parent_id=None, role="user", content="unheard"
        )
        await services.indexer.start()
        await services.indexer.idle(30)
        count = await services.memory.store.indexed(conversation.id)
        await services.indexer.stop()
        services.db.close()
        return count

    assert asyncio.run(scenario()) == 2


def test_search_checks_its_input_and_its_reader(
    client: TestClient[Any], services: Services, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    conversation = start_chat(client, alice)
    for params in ({"q": "  "}, {"q": "x", "k": 0}, {"q": "x", "k": 51}, {"q": "x" * 2001}):
        response = client.get(f"{MEMORY}/{conversation}/search", params=params, headers=bearer(alice))
        assert response.status_code == 422, params
        assert error_of(response)["code"]
    assert search(client, bob, conversation, "anything").status_code == 404
    assert client.get(f"{MEMORY}/{conversation}/status", headers=bearer(bob)).status_code == 404
    # FTS syntax in a query is just words.
    assert search(client, alice, conversation, 'NEAR("a" b) OR * AND "').status_code == 200


# -- ranking, as pure functions ------------------------------------------------------------------------

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("what did I eat yesterday?", "2026-08-31", "2026-09-01"),
        ("anything new this week", "2026-08-25", "2026-09-02"),
        ("what happened last week", "2026-08-18", "2026-09-01"),
        ("the trip in May", "2026-05-01", "2026-06-01"),
        ("back in November", "2025-11-01", "2025-12-01"),
        ("in March 2024", "2024-03-01", "2024-04-01"),
        ("three days ago", "2026-08-28", "2026-08-31"),
        ("on Tuesday", "2026-08-25", "2026-08-26"),
    ],
)
def test_time_expressions(text: str, start: str, end: str) -> None:
    window = parse_time(text, NOW)
    assert window is not None
    assert (window.start.date().isoformat(), window.end.date().isoformat()) == (start, end)


def test_no_time_in_a_plain_question() -> None:
    assert parse_time("What did I name my dog?", NOW) is None
    assert parse_time("May I ask you something?", NOW) is None


def test_reading_a_query() -> None:
    assert terms_of("What did I name my dog, again?") == ["name", "dog"]
    assert read_query("What did Ren name the dog?", now=NOW, user_name="Ren", character_name="Mira").speaker == "user"
    assert read_query("What does Mira like?", now=NOW, user_name="Ren", character_name="Mira").speaker == "assistant"
    assert read_query("what is my dog's name", now=NOW).speaker == "user"
    assert read_query("where is the key", now=NOW).speaker is None


def test_fusion_rewards_both_sides_and_the_turn_before_an_answer() -> None:
    query = read_query("what is the puppy called", now=NOW)
    candidates = {
        i: Candidate(id=i, kind="message", role="user", created_at="2026-08-01T00:00:00Z") for i in range(1, 5)
    }
    vector = {1: 0.9, 2: 0.8, 3: 0.2, 4: 0.1}
    lexical = {2: 8.0, 3: 1.0}
    ranked = [i for i, _ in fuse(query, vector, lexical, candidates, {}, now=NOW)]
    assert ranked[:2] == [2, 1]  # 2 is good on both sides, 1 on one
    # "Biscuit!" (4) answers the question (3, "what did you name the puppy?") before it: it overtakes 5,
    # a little closer to the query in vector space but next to nothing relevant.
    candidates[5] = Candidate(id=5, kind="message", role="user", created_at="2026-08-01T00:00:00Z")
    vector[5] = 0.15
    ranked = [i for i, _ in fuse(query, vector, {3: 9.0}, candidates, {4: [3]}, now=NOW)]
    assert ranked.index(4) < ranked.index(5)
    alone = [i for i, _ in fuse(query, vector, {3: 9.0}, candidates, {}, now=NOW)]
    assert alone.index(4) > alone.index(5)


def test_in_memory_vector_search_matches_sqlite_vec(
    client: TestClient[Any], services: Services, alice: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = start_chat(client, alice)
    for n in range(6):
        say(client, alice, conversation, f"note {n}: " + " ".join(["alpha", "beta", "gamma", "delta"][: n % 4 + 1]))
    settle(client, services)
    probe = HashingEmbedder().embed(["alpha beta"])[0]
    with client.portal() as portal:
        from_sqlite = portal.call(services.memory.store.knn, conversation, probe, 5)
        monkeypatch.setattr(vectors_module, "IN_MEMORY_FROM", 1)
        services.memory.vectors.removed(conversation)
        from_ram = portal.call(services.memory.vectors.nearest, conversation, probe, 5)
    assert set(from_ram) == set(from_sqlite)
    for key, value in from_ram.items():
        assert value == pytest.approx(from_sqlite[key], abs=1e-4)


def clustered_vectors(count: int, seed: int = 5) -> np.ndarray:
    """Unit vectors sharing a common direction (as MiniLM's do), in loose topics."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, 384)).astype(np.float32)
    vectors = 2.0 + topics[rng.integers(0, len(topics), count)] + 0.8 * rng.standard_normal((count, 384))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_long_conversation_is_prefiltered_by_bits_and_scored_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors_module, "EXACT_UP_TO", 1000)
    monkeypatch.setattr(vectors_module, "RERANK_MIN", 300)
    vectors = clustered_vectors(6000)
    ids = np.arange(100, 6100, dtype=np.int64)
    matrix = vectors_module._Matrix.of(ids, vectors)
    exact = vectors_module._Matrix(ids, vectors)  # no bits: the full scan
    assert matrix.bits is not None and matrix.bits.shape == (6, 6000)
    assert exact.bits is None
    rng = np.random.default_rng(9)
    overlaps = []
    for row in rng.integers(0, 6000, 20):
        probe = vectors[row] + 0.05 * rng.standard_normal(384).astype(np.float32)
        probe /= np.linalg.norm(probe)
        found, truth = matrix.top(probe, 10), exact.top(probe, 10)
        assert int(ids[row]) in found  # the vector the probe was made from
        for key, value in found.items():  # exact cosines, whatever picked them
            assert value == pytest.approx(float(vectors[key - 100] @ probe), abs=1e-5)
        overlaps.append(len(set(found) & set(truth)) / 10)
    assert float(np.mean(overlaps)) >= 0.9


def test_vectors_added_to_a_loaded_long_conversation_get_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors_module, "EXACT_UP_TO", 1000)
    monkeypatch.setattr(vectors_module, "RERANK_MIN", 100)
    vectors = clustered_vectors(3001)
    small = vectors_module._Matrix.of(np.arange(900, dtype=np.int64), vectors[:900])
    assert small.bits is None  # exact scans only, so far
    grown = small.extended(np.arange(900, 3000, dtype=np.int64), vectors[900:3000])
    assert grown.bits is not None and grown.bits.shape == (6, 3000)
    newest = grown.extended(np.asarray([3000], dtype=np.int64), vectors[3000:])
    assert newest.bits is not None and newest.bits.shape == (6, 3001) and len(newest.ids) == 3001
    assert len(small.ids) == 900  # a search reading the old matrix meanwhile saw it whole
    assert next(iter(newest.top(vectors[3000], 1))) == 3000


@pytest.mark.model
def test_the_bundled_embedding_model_finds_paraphrases(tmp_path: Path) -> None:
    embedder = OnnxMiniLM(tmp_path)
    texts = [
        "We adopted a beagle puppy this weekend, he chews everything.",
        "The quarterly report is due on Friday.",
        "I'm allergic to peanuts, I carry an EpiPen.",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    question = embedder.embed(["What kind of pet do I have?", "Is there a food I must avoid?"])
    assert int(np.argmax(vectors @ question[0])) == 0
    assert int(np.argmax(vectors @ question[1])) == 2
    # Batched by length (each batch padded to its own longest, see BATCH_SIZE), in the callers' order: a
    # text's vector is the one it has alone, next to long texts or short.
    mixed = [
        texts[0],
        "A long reply about the weather and the road. " * 30,
        *texts[1:],
        *(f"Line {n}." for n in range(12)),
    ]
    together = embedder.embed(mixed)
    alone = np.concatenate([embedder.embed([text]) for text in mixed])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(together[[0, 2, 3]], vectors, atol=1e-5)
    # A long message is read in passages: what it says after the model's 256 word pieces still counts.
    narration = " ".join(
        f"The rain keeps falling on the harbour roofs, hour {n} of the long grey evening." for n in range(16)
    )
    long_reply = f"{narration} Oh, and I'm allergic to peanuts, I carry an EpiPen."
    assert len(passages(long_reply)) > 1 and all(len(p) <= PASSAGE_CHARS for p in passages(long_reply))
    assert passages(texts[0]) == [texts[0]]
    read = embed_messages(embedder, [long_reply, texts[0]])
    assert np.allclose(np.linalg.norm(read, axis=1), 1.0, atol=1e-4) and np.allclose(read[1], vectors[0], atol=1e-5)
    truncated = embedder.embed([long_reply])[0]
    assert float(read[0] @ question[1]) > float(truncated @ question[1]) + 0.05


def test_the_users_own_telling_outranks_the_characters_echo_of_it() -> None:
    # "What is my dog called?": the user's "we named him Biscuit" (1) against the character's reply to it (2),
    # which a small model words closer to the question ("the dog's name...") and which borrows the telling's
    # score as its neighbour. The question is about the user: the telling is the evidence, the echo a guess.
    query = read_query("What is my dog called?", now=NOW)
    candidates = {
        1: Candidate(id=1, kind="message", role="user", created_at="2026-08-01T00:00:00Z"),
        2: Candidate(id=2, kind="message", role="assistant", created_at="2026-08-01T00:00:10Z"),
        3: Candidate(id=3, kind="message", role="user", created_at="2026-08-01T00:01:00Z"),
    }
    vector = {1: 0.6, 2: 0.7, 3: 0.2}
    lexical = {1: 2.0, 2: 2.2, 3: 0.5}
    ranked = [i for i, _ in fuse(query, vector, lexical, candidates, {1: [2], 2: [1, 3], 3: [2]}, now=NOW)]
    assert ranked[0] == 1
    about_nobody = read_query("the dog's name", now=NOW)
    ranked = [i for i, _ in fuse(about_nobody, vector, lexical, candidates, {1: [2], 2: [1, 3], 3: [2]}, now=NOW)]
    assert ranked[0] == 2  # without "my", closeness decides


def test_a_large_batch_embedded_on_two_threads_keeps_every_vector_in_its_place() -> None:
    """While the cores are free the indexer embeds big batches in two halves of equal work at once (a chat's
    short lines and long replies alternate: every other message would give one thread all of it)."""
    from bostonia.memory.indexer import MemoryIndexer, balanced_halves

    texts = [("Ren: hi " * (1 + i % 3)) if i % 2 == 0 else "Mira: " + "a long reply. " * (20 + i) for i in range(40)]
    embedder = HashingEmbedder()
    asked: list[bool] = []

    def spread() -> bool:
        asked.append(True)
        return True

    indexer = MemoryIndexer(None, embedder, None, spread=spread)  # type: ignore[arg-type]  # only _embed is used
    together = asyncio.run(indexer._embed(texts))
    assert np.allclose(together, embed_messages(embedder, texts), atol=1e-6)  # the same rows, in their places
    assert len(asked) == 3  # asked again for every piece of 16 messages
    light, heavy = balanced_halves([len(t) for t in texts[:16]])
    sizes = [sum(len(texts[i]) for i in half) for half in (light, heavy)]
    assert sorted(light + heavy) == list(range(16)) and abs(sizes[0] - sizes[1]) <= max(len(t) for t in texts[:16])
    assert not any(i % 2 for i in light) or not all(i % 2 for i in heavy)  # not simply every other message
