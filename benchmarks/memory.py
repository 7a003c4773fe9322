"""Issue 10: memory recall, search latency, extraction precision.

(1) Recall@5/@10 of the search (`MemoryService.recall`, what `GET /api/v1/memory/{id}/search` runs) on the
    long multi-session chat of `benchmarks/memory_set.py`, with the bundled MiniLM, against plain
    per-message vector top-k and BM25 alone over the same index, in the same run; then on the same chat
    with long turns (roleplay narration around each, `with_narration`).
(2) Search latency, p50/p99, over 100,000 indexed messages in one conversation and spread over 200
    conversations (random unit vectors: brute-force cost does not depend on what they mean; texts drawn
    from the chat set so BM25 sees real word statistics). The query is embedded by the real model.
(3) Extraction precision on a labelled set (benchmarks/extraction_set.py), with the bundled model.
(4) Prompt tokens a reply must read after the warm-up, turn 30 vs turn 2 (benchmarks/memory_prompt.py).

    python -m benchmarks memory
    BENCH_MEMORY_MESSAGES=20000 python -m benchmarks memory     # a smaller latency run
    BENCH_MEMORY_EXTRACTION=0 python -m benchmarks memory       # without the (slow) model extraction run
    BENCH_MEMORY_LONG_TURNS=0 python -m benchmarks memory       # without (1) on the set's long-turn variants
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import extraction_set
from benchmarks.common import median, percentile
from benchmarks.memory_set import CHARACTER, USER, Chat, build, summary, with_narration
from bostonia.app import Services, build_services
from bostonia.chat.schemas import Conversation
from bostonia.chat.store import ImportedMessage
from bostonia.config import load_settings
from bostonia.db.values import new_id
from bostonia.memory.store import NewDocument
from bostonia.plugins import make_plugin_manager

LATENCY_MESSAGES = int(os.environ.get("BENCH_MEMORY_MESSAGES", "100000"))
LATENCY_RUNS = 60


def stamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def make_services(data_dir: Path) -> Services:
    # No summaries or extraction: the chat model writing the 842-turn chat's "story so far" in the background
    # would share the process and the two cores with the searches measured (it did, in earlier runs).
    memory = {"embedder": "minilm", "summaries": False, "extraction": False}
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir), "memory": memory})
    services = build_services(settings, make_plugin_manager([]))
    await services.start()
    return services


async def owner_and_character(services: Services, user_name: str, character_name: str) -> tuple[str, str]:
    user_id, character_id = new_id(), new_id()

    def insert(conn: Any) -> None:
        conn.execute(
            "insert into users (id, email, display_name) values (?, ?, ?)", (user_id, f"{user_id}@b.test", user_name)
        )
        conn.execute(
            "insert into characters (id, name, visibility) values (?, ?, 'private')", (character_id, character_name)
        )

    await services.db.write(insert)
    return user_id, character_id


async def import_chat(services: Services, chat: Chat) -> tuple[Conversation, list[str]]:
    user_id, character_id = await owner_and_character(services, USER, CHARACTER)
    messages = [
        ImportedMessage(
            key=str(i),
            parent_key=str(i - 1) if i else None,
            role=turn.role,
            content=turn.content,
            created_at=stamp(turn.at),
        )
        for i, turn in enumerate(chat.turns)
    ]
    conversation = await services.chat.conversations.import_tree(
        user_id=user_id, character_id=character_id, title="bench", messages=messages, leaf_key=str(len(messages) - 1)
    )
    rows = await services.db.fetchall(
        "select id from messages where conversation_id = ? order by created_at", (conversation.id,)
    )
    return conversation, [row["id"] for row in rows]


async def recall_run(services: Services, chat: Chat) -> None:
    started = time.perf_counter()
    conversation, ids = await import_chat(services, chat)
    services.chat.messages_changed(conversation.id)
    await services.indexer.idle()
    indexing = time.perf_counter() - started
    conversation = await services.chat.conversations.get(conversation.id) or conversation
    print(f"  set: {summary(chat)}; indexed in {indexing:.1f}s ({len(ids) / indexing:.0f} messages/s)")
    results: dict[str, dict[str, list[bool]]] = {}
    for mode in ("vector", "bm25", "hybrid"):
        hits: dict[str, list[bool]] = {"@5": [], "@10": []}
        by_kind: dict[str, list[bool]] = {}
        for question in chat.questions:
            items = await services.memory.recall(conversation, question.text, 10, mode=mode)
            found = [any(ids[e] in item.source_message_ids for e in question.evidence) for item in items]
            hits["@5"].append(any(found[:5]))
            hits["@10"].append(any(found[:10]))
            by_kind.setdefault(question.kind, []).append(any(found[:5]))
        results[mode] = {**hits, **{f"kind:{k}": v for k, v in by_kind.items()}}
    names = {"vector": "plain vector top-k", "bm25": "BM25 alone", "hybrid": "Bostonia hybrid"}
    for mode, result in results.items():
        kinds = ", ".join(f"{k[5:]} {rate(v):.2f}" for k, v in sorted(result.items()) if k.startswith("kind:"))
        print(
            f"  (1) {names[mode]:20s} recall@5 {rate(result['@5']):.3f}  recall@10 {rate(result['@10']):.3f}"
            f"  (@5 by kind: {kinds})"
        )
    base = max(rate(results["vector"]["@5"]), rate(results["bm25"]["@5"]))
    print(
        f"      hybrid / best baseline at @5: {rate(results['hybrid']['@5']) / base:.2f}x "
        f"(goal: recall@5 >= 0.60, recall@10 >= 0.72)"
    )


def rate(values: Sequence[bool]) -> float:
    return sum(values) / max(1, len(values))


async def fill(services: Services, conversation_ids: list[str], total: int, texts: list[str]) -> None:
    rng = np.random.default_rng(3)
    per = total // len(conversation_ids)
    for conversation_id in conversation_ids:
        for start in range(0, per, 2000):
            count = min(2000, per - start)
            vectors = rng.standard_normal((count, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            documents = [
                NewDocument(
                    conversation_id=conversation_id,
                    kind="memory",  # no message row needed: the index is what is measured
                    content=texts[(start + i) % len(texts)] + f" #{start + i}",
                    created_at=f"2026-{1 + (start + i) % 12:02d}-01T10:00:00.000Z",
                )
                for i in range(count)
            ]
            await services.memory.store.add(documents, vectors)


async def latency_run(services: Services, chat: Chat) -> None:
    if not LATENCY_MESSAGES:
        return
    texts = [turn.content for turn in chat.turns]
    queries = [question.text for question in chat.questions]
    layouts = {"one conversation": 1, "200 conversations": 200}
    for label, count in layouts.items():
        user_id, character_id = await owner_and_character(services, USER, CHARACTER)
        conversations = [
            await services.chat.conversations.create(user_id=user_id, character_id=character_id, greetings=[])
            for _ in range(count)
        ]
        started = time.perf_counter()
        await fill(services, [c.id for c in conversations], LATENCY_MESSAGES, texts)
        filled = time.perf_counter() - started
        target = conversations[0]
        await services.memory.recall(target, "warm up the caches", 10)
        timings, cpu = [], []
        for n in range(LATENCY_RUNS):
            began, began_cpu = time.perf_counter(), time.process_time()
            await services.memory.recall(target, queries[n % len(queries)], 10)
            timings.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        embedding = []
        for n in range(LATENCY_RUNS):
            began = time.perf_counter()
            await asyncio.to_thread(services.memory.embedder.embed, [queries[n % len(queries)]])
            embedding.append((time.perf_counter() - began) * 1000)
        print(
            f"  (2) search over {LATENCY_MESSAGES:,} indexed items in {label} (filled in {filled:.0f}s): "
            f"p50 {median(timings):.1f} ms, p99 {percentile(timings, 99):.1f} ms (goal p50 <= 20 ms), of which "
            f"embedding the query alone p50 {median(embedding):.1f} ms; CPU time of a search (all threads) p50 "
            f"{median(cpu):.1f} ms; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


async def run() -> None:
    chat = build()
    data_dir = Path(tempfile.mkdtemp(prefix="bostonia-bench-memory-"))
    services = await make_services(data_dir)
    try:
        print("memory: bundled MiniLM embeddings, the service layer on a real database")
        await recall_run(services, chat)
        if os.environ.get("BENCH_MEMORY_LONG_TURNS", "1") != "0":
            for after in (False, True):
                print(f"  long turns: ~1,000 characters of narration {'after' if after else 'before'} each turn")
                await recall_run(services, with_narration(chat, after=after))
        await latency_run(services, chat)
        if os.environ.get("BENCH_MEMORY_EXTRACTION", "1") != "0":
            await extraction_set.run(services)
    finally:
        await services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    from benchmarks import memory_prompt

    random.seed(0)
    asyncio.run(run())
    if os.environ.get("BENCH_MEMORY_PROMPT", "1") != "0":
        memory_prompt.main()


if __name__ == "__main__":
    main()
