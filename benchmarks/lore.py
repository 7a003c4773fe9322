"""World Info activation speed: a 1,000-entry book scanned over the last 50 messages.

Three numbers, each the median of many runs in this process:
- baseline: the activation Bostonia had before (benchmarks/lore_baseline.py) on the same book and chat;
- scan: the full World Info loop (benchmarks the per-turn work: recursion, groups, budget, timed effects)
  over the compiled book — what every turn costs once the book is cached;
- injector: one whole `LoreInjector.injections` call against a real SQLite database (settings, links,
  state and the cached compiled book read per turn), and, once, the cold first turn that compiles the book.

The book: keys of one to three words from a 4,000-word vocabulary; 10 % with secondary keys (all four
logics), 20 % whole-word, 1 % regex, 5 % in inclusion groups, 2 % constant, 5 % sticky/cooldown. The chat
mentions ~20 of the entries' keys, as a real chat would.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks import lore_baseline
from bostonia.lore.activation import ScanContext, scan
from bostonia.lore.compiled import compile_book
from bostonia.lore.editing import new_entry
from bostonia.lore.schemas import EntryFields, Lorebook, LoreEntry, LoreSettings

ENTRIES = 1_000
MESSAGES = 50
RUNS = 200


def vocabulary(rng: random.Random, size: int = 4_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words)


def build_book(rng: random.Random, words: list[str]) -> list[LoreEntry]:
    logics = ["and_any", "not_all", "not_any", "and_all"]
    entries = []
    for i in range(ENTRIES):
        keys = [" ".join(rng.sample(words, rng.choice([1, 1, 1, 2, 3]))) for _ in range(rng.randint(1, 3))]
        fields: dict[str, Any] = {
            "keys": keys,
            "content": " ".join(rng.sample(words, 40)),
            "insertion_order": rng.randint(1, 500),
        }
        if rng.random() < 0.10:
            fields |= {"secondary_keys": rng.sample(words, 2), "selective_logic": rng.choice(logics)}
        if rng.random() < 0.20:
            fields["match_whole_words"] = True
        if rng.random() < 0.01:
            fields["keys"] = [f"/{rng.choice(words)[:3]}\\w+ {rng.choice(words)[:3]}/i"]
        if rng.random() < 0.05:
            fields["group"] = f"group{rng.randint(1, 10)}"
        if rng.random() < 0.02:
            fields["constant"] = True
        if rng.random() < 0.05:
            fields |= {"sticky": 2, "cooldown": 2}
        entry = new_entry(EntryFields(**fields))
        entry.id = f"e{i}"
        entries.append(entry)
    return entries


def build_chat(rng: random.Random, words: list[str], entries: list[LoreEntry]) -> list[str]:
    """Everyday words (a vocabulary of their own, as names and places in lore keys mostly are not everyday
    words), with 20 of the book's keys mentioned here and there."""
    chatter = [w for w in vocabulary(random.Random(99), 3_000) if w not in set(words)]
    mentioned = [rng.choice(entry.keys) for entry in rng.sample(entries, 20)]
    messages = [" ".join(rng.choices(chatter, k=40)) for _ in range(MESSAGES)]
    for key in mentioned:
        index = rng.randrange(MESSAGES)
        messages[index] += f" and then {key}."
    return messages


def median_ms(fn: Any, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def injector_numbers(entries: list[LoreEntry], messages: list[str]) -> tuple[float, float, int]:
    from bostonia.app import open_database
    from bostonia.config import load_settings
    from bostonia.lore.injector import LoreInjector
    from bostonia.lore.store import LorebookStore

    workdir = Path(tempfile.mkdtemp(prefix="bostonia-lore-bench-"))
    try:
        db = open_database(load_settings(None, overrides={"data_dir": str(workdir)}), read_connections=1)
        await db.migrate()
        store = LorebookStore(db)
        book_id = await store.create(Lorebook(name="bench", recursive_scanning=True, entries=entries), owner_id=None)
        await db.execute_write(
            "insert into users (id, email, display_name) values ('bench-user', 'bench@example.com', 'Ren')"
        )
        await store.save_settings("bench-user", LoreSettings(scan_depth=MESSAGES))
        injector = LoreInjector(store, context_tokens=lambda: 8192)
        user = SimpleNamespace(id="bench-user", display_name="Ren")
        conversation = SimpleNamespace(id="bench-chat", persona_id=None)
        character = SimpleNamespace(name="Sage", lorebook_id=book_id)
        history = [
            SimpleNamespace(content=m, role="user" if i % 2 else "assistant", id=f"m{i}")
            for i, m in enumerate(messages)
        ]
        started = time.perf_counter()
        first = await injector.injections(user, conversation, character, history)
        cold = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(RUNS // 4):
            started = time.perf_counter()
            await injector.injections(user, conversation, character, history)
            times.append((time.perf_counter() - started) * 1000)
        db.close()
        return cold, statistics.median(times), len(first)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    rng = random.Random(10)
    words = vocabulary(rng)
    entries = build_book(rng, words)
    messages = build_chat(rng, words, entries)
    settings = LoreSettings(scan_depth=MESSAGES)
    print(f"lore: {ENTRIES:,} entries, {MESSAGES}-message scan, median of {RUNS} runs (ms)")
    baseline = median_ms(lambda: lore_baseline.activate(entries, messages, MESSAGES, 2048, "chat|50"))
    fired = len(lore_baseline.activate(entries, messages, MESSAGES, 2048, "chat|50"))
    print(f"  baseline (previous activation, keys only): {baseline:7.2f} ms  ({fired} entries)")
    book = Lorebook(id="b", name="bench", recursive_scanning=True, entries=entries)
    started = time.perf_counter()
    compiled = sorted(compile_book(book, "character", settings, "Sage", "Ren"), key=lambda e: -e.order)
    compile_ms = (time.perf_counter() - started) * 1000
    ctx = ScanContext(
        messages=messages[::-1],
        settings=settings,
        chat_length=MESSAGES,
        assistant_messages=25,
        seed="chat|50",
        context_tokens=8192,
    )
    result = scan(compiled, ctx)
    full = median_ms(lambda: scan(compiled, ctx))
    print(
        f"  scan (full World Info loop, compiled book):  {full:7.2f} ms  ({len(result.activated)} entries, "
        f"{result.steps} steps)  = {full / baseline:.2f}x baseline"
    )
    roomy = ScanContext(
        messages=messages[::-1],
        settings=settings,
        chat_length=MESSAGES,
        assistant_messages=25,
        seed="chat|50",
        context_tokens=200_000,
    )
    deep = scan(compiled, roomy)
    deep_ms = median_ms(lambda: scan(compiled, roomy), RUNS // 4)
    print(
        f"  scan with room for recursion (50k budget):   {deep_ms:7.2f} ms  ({len(deep.activated)} entries, "
        f"{deep.steps} steps)"
    )
    flat = LoreSettings(scan_depth=MESSAGES, recursive=False)
    flat_ctx = ScanContext(
        messages=messages[::-1],
        settings=flat,
        chat_length=MESSAGES,
        assistant_messages=25,
        seed="chat|50",
        context_tokens=8192,
    )
    flat_ms = median_ms(lambda: scan(compiled, flat_ctx))
    print(f"  scan without recursion (like the baseline):  {flat_ms:7.2f} ms  = {flat_ms / baseline:.2f}x baseline")
    print(f"  compiling the book once (cached after):      {compile_ms:7.2f} ms")
    cold, warm, count = asyncio.run(injector_numbers(entries, messages))
    print(
        f"  injector, per turn (DB reads + scan):        {warm:7.2f} ms  ({count} injections); first turn {cold:.1f} ms"
    )


if __name__ == "__main__":
    main()
