"""Issue 4: the catalogue at 100,000 characters.

- search p50/p99 (FTS5, prefix and typo queries) against a plain LIKE scan on the same data (baseline);
- trending p50/p99 served from the cache against computing it on every request (baseline);
- the first page of listings (new, popular, a tag);
- bulk import throughput, cards/s: through the service, through `POST /api/v1/characters/import` on a real
  server, and parsing alone (baseline: what storing adds).

    python -m benchmarks catalogue            # 100,000 characters
    BENCH_CHARACTERS=20000 python -m benchmarks catalogue
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import account, median, percentile, running_server

CHARACTERS = int(os.environ.get("BENCH_CHARACTERS", "100000"))
IMPORT_CARDS = int(os.environ.get("BENCH_IMPORT_CARDS", "300"))
RUNS = 40
SEED = 4
COMMON = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "he",
    "she",
    "it",
    "his",
    "her",
    "with",
    "as",
    "for",
    "on",
    "at",
    "by",
    "from",
    "they",
    "that",
    "this",
    "be",
    "are",
    "an",
    "old",
    "young",
    "who",
    "has",
    "had",
    "will",
    "would",
    "can",
    "could",
    "dark",
    "light",
    "city",
    "forest",
    "sea",
    "sky",
    "mountain",
    "village",
    "castle",
    "tower",
    "ship",
    "star",
    "moon",
    "sun",
    "fire",
    "water",
    "storm",
    "wind",
    "shadow",
    "blood",
    "iron",
    "gold",
    "silver",
    "crystal",
    "ancient",
    "secret",
    "hidden",
    "lost",
    "knight",
    "mage",
    "witch",
    "queen",
    "king",
    "prince",
    "princess",
    "captain",
    "pirate",
    "thief",
    "assassin",
    "healer",
    "priest",
    "scholar",
    "merchant",
    "librarian",
    "detective",
    "soldier",
    "hunter",
    "dragon",
    "wolf",
    "fox",
    "cat",
    "raven",
    "demon",
    "angel",
    "ghost",
    "vampire",
    "robot",
    "android",
    "alien",
    "pilot",
    "engineer",
    "doctor",
    "student",
    "teacher",
    "chef",
    "barista",
    "bard",
    "ranger",
    "druid",
    "warlock",
    "necromancer",
    "samurai",
    "ninja",
    "kind",
    "cold",
    "warm",
    "shy",
    "bold",
    "cheerful",
    "grumpy",
    "sarcastic",
    "gentle",
    "fierce",
    "loyal",
    "curious",
    "clever",
    "lazy",
    "stubborn",
    "proud",
    "loves",
    "hates",
    "fears",
    "guards",
    "hunts",
    "seeks",
    "protects",
    "serves",
    "studies",
    "travels",
    "sings",
    "brews",
    "forges",
    "writes",
    "rules",
    "magic",
    "music",
    "books",
    "tea",
    "coffee",
    "stars",
    "maps",
    "swords",
    "potions",
    "secrets",
    "stories",
    "dreams",
    "memories",
    "rumours",
    "gardens",
]
TAGS = [
    "fantasy",
    "sci-fi",
    "romance",
    "horror",
    "mystery",
    "adventure",
    "comedy",
    "slice-of-life",
    "historical",
    "cyberpunk",
    "anime",
    "drama",
    "action",
    "cozy",
    "dark-fantasy",
    "space",
    "school",
    "isekai",
    "mythology",
    "steampunk",
    "western",
    "noir",
]


def pseudo_word(rng: random.Random) -> str:
    syllables = [
        "ka",
        "ri",
        "lo",
        "mae",
        "th",
        "ven",
        "dor",
        "ell",
        "is",
        "qu",
        "zar",
        "ny",
        "bel",
        "ros",
        "ith",
        "an",
        "ur",
        "gal",
        "wen",
        "tor",
        "sha",
        "mir",
        "os",
        "del",
        "fyn",
        "cal",
        "ra",
        "sol",
    ]
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))


def vocabulary(rng: random.Random) -> list[str]:
    """Common words plus a long tail of rare invented ones, like a real catalogue's descriptions."""
    return COMMON + sorted({pseudo_word(rng) for _ in range(30_000)})


def zipf_pick(rng: random.Random, words: list[str]) -> str:
    return words[min(len(words) - 1, int(rng.paretovariate(0.6)) - 1)]


def generate(db_path: Path, count: int) -> dict[str, Any]:
    """Bulk-insert `count` characters (tags, FTS rows via the triggers), 200 users and a week of activity."""
    from bostonia.db import connect

    rng = random.Random(SEED)
    words = vocabulary(rng)  # common words first: the Zipf draw makes them frequent, the invented ones rare
    conn = connect(db_path)
    now = datetime.now(UTC)
    users = [(str(uuid.uuid4()), f"user{i}@bench.local", f"Creator {pseudo_word(rng).title()}") for i in range(200)]
    characters, tags, names = [], [], []
    for i in range(count):
        name = f"{pseudo_word(rng).title()} {pseudo_word(rng).title()}"
        description = " ".join(zipf_pick(rng, words) for _ in range(rng.randint(30, 90)))
        created = (now - timedelta(minutes=count - i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        character_id = str(uuid.uuid4())
        creator = rng.choice(users)[0]
        characters.append(
            (
                character_id,
                creator,
                name,
                description[:120],
                description,
                "{{char}} greets you.",
                "public",
                rng.choice(["sfw", "sfw", "sfw", "mature"]),
                rng.randint(0, 5000),
                round(rng.uniform(1, 5), 2),
                rng.randint(0, 300),
                created,
                created,
            )
        )
        tags += [(character_id, tag, n) for n, tag in enumerate(rng.sample(TAGS, 3))]
        names.append((character_id, name, description))
    started = time.perf_counter()
    conn.execute("begin immediate")
    conn.execute("pragma defer_foreign_keys = on")  # tags first: each FTS row is written once, with its tags
    conn.executemany("insert into users (id, email, display_name) values (?, ?, ?)", users)
    conn.executemany("insert into character_tags (character_id, tag, position) values (?, ?, ?)", tags)
    conn.executemany(
        """insert into characters (id, creator_id, name, tagline, description, greeting, visibility, content_tier,
               total_conversations, avg_rating, rating_count, created_at, updated_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        characters,
    )
    # A week of activity on a few thousand characters: conversations with user messages, ratings, favorites.
    active = rng.sample(characters, min(len(characters), 3000))
    conversations, messages, ratings, favorites = [], [], [], set()
    for _ in range(20_000):
        character = rng.choice(active)
        when = now - timedelta(hours=rng.uniform(0, 24 * 7))
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        conversation_id = str(uuid.uuid4())
        user = rng.choice(users)[0]
        conversations.append((conversation_id, user, character[0], stamp, stamp))
        messages += [(str(uuid.uuid4()), conversation_id, "user", "hello", stamp) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.2:
            ratings.append((str(uuid.uuid4()), character[0], user, rng.randint(1, 5), stamp, stamp))
        if rng.random() < 0.2:
            favorites.add((user, character[0], stamp))
    conn.executemany(
        "insert into conversations (id, user_id, character_id, created_at, updated_at) values (?, ?, ?, ?, ?)",
        conversations,
    )
    conn.executemany(
        "insert into messages (id, conversation_id, role, content, created_at) values (?, ?, ?, ?, ?)", messages
    )
    conn.executemany(
        "insert or ignore into character_ratings (id, character_id, user_id, rating, created_at, updated_at)"
        " values (?, ?, ?, ?, ?, ?)",
        ratings,
    )
    conn.executemany(
        "insert or ignore into user_favorites (user_id, character_id, created_at) values (?, ?, ?)", sorted(favorites)
    )
    conn.execute("commit")
    seconds = time.perf_counter() - started
    conn.execute("pragma optimize")
    conn.execute("insert into characters_fts (characters_fts) values ('optimize')")
    conn.close()
    sample = rng.choice([n for n, c in zip(names, characters, strict=True) if c[7] == "sfw"])
    rare = max((w for w in sample[2].split() if w not in COMMON), key=len, default="ancient")
    return {
        "seconds": seconds,
        "messages": len(messages),
        "conversations": len(conversations),
        "sample_name": sample[1],
        "rare_word": rare,
        "creator": users[0][2],
    }


async def timings(fn: Callable[[], Awaitable[Any]], runs: int = RUNS) -> list[float]:
    await fn()  # warm: caches, the typo index
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def line(label: str, values: list[float], baseline: list[float] | None = None) -> None:
    ratio = ""
    if baseline:
        ratio = f"   baseline p50 {median(baseline):7.2f} ms  ({median(baseline) / median(values):5.1f}x)"
    print(f"  {label:<34} p50 {median(values):7.2f} ms  p99 {percentile(values, 99):7.2f} ms{ratio}")


def card_files(count: int) -> list[tuple[str, bytes]]:
    """Generated cards to import: half PNG (a 256x384 picture with a ccv3 chunk), half V2 JSON."""
    from PIL import Image

    from bostonia.cards.png import embed_card

    rng = random.Random(SEED + 1)
    words = vocabulary(rng)
    files = []
    for i in range(count):
        card = {
            "spec": "chara_card_v3",
            "spec_version": "3.0",
            "data": {
                "name": f"{pseudo_word(rng).title()} {i}",
                "description": " ".join(rng.choices(words[:400], k=120)),
                "first_mes": "Hello {{user}}.",
                "tags": rng.sample(TAGS, 3),
                "extensions": {"talkativeness": "0.5"},
                "character_book": {
                    "entries": [
                        {
                            "keys": [rng.choice(words)],
                            "content": "lore " * 20,
                            "enabled": True,
                            "insertion_order": 100,
                            "extensions": {},
                        }
                        for _ in range(3)
                    ]
                },
            },
        }
        raw = json.dumps(card).encode()
        if i % 2:
            files.append((f"card{i}.json", raw))
        else:
            picture = io.BytesIO()
            Image.new("RGB", (256, 384), (rng.randrange(256), 90, 140)).save(picture, "PNG")
            files.append((f"card{i}.png", embed_card(picture.getvalue(), {"ccv3": raw})))
    return files


async def measure_catalogue(data_dir: Path, facts: dict[str, Any]) -> None:
    from bostonia.app import build_services
    from bostonia.config import load_settings
    from bostonia.plugins import make_plugin_manager

    settings = load_settings(None, overrides={"data_dir": str(data_dir)})
    services = build_services(settings, make_plugin_manager([]))
    await services.start()
    characters = services.characters
    try:
        started = time.perf_counter()
        await characters.refresh_search_terms()
        print(f"  typo index: {len(characters._terms or [])} terms built in {time.perf_counter() - started:.2f} s")
        name_word = facts["sample_name"].split()[0].lower()
        queries = {
            "search: one common word": "dragon",
            "search: two words": "dark forest",
            "search: a name": facts["sample_name"],
            "search: a rare word": facts["rare_word"],
            "search: a prefix": name_word[:4],
            "search: a typo": name_word[:2] + name_word[3] + name_word[2] + name_word[4:],
            "search: a tag": "cyberpunk",
        }
        tiers = ("sfw",)
        for label, query in queries.items():
            fts = await timings(lambda q=query: characters.search(None, q))
            like_word = max(query.split(), key=len)
            like = await timings(
                lambda w=like_word: characters.characters.like_search(w, content_tiers=tiers, limit=20), runs=5
            )
            found = len(await characters.search(None, query))
            line(f"{label} ({found} hits)", fts, like)

        cached = await timings(lambda: characters.trending(None))

        async def uncached() -> Any:
            await characters.trending_cache.refresh()
            return await characters.trending(None)

        line("trending (cached; baseline: computed)", cached, await timings(uncached, runs=10))
        for label, kwargs in (
            ("list: new", {"sort": "new"}),
            ("list: popular", {"sort": "popular"}),
            ("list: rating", {"sort": "rating"}),
            ("list: tag noir", {"tag": "noir"}),
        ):
            line(label, await timings(lambda k=kwargs: characters.browse(None, **k)))
        page = await characters.browse(None, sort="new")
        deep = await timings(lambda: characters.browse(None, sort="new", cursor=page.next_cursor))
        line("list: new, page 2 (cursor)", deep)
    finally:
        await services.stop()


async def measure_import(data_dir: Path, files: list[tuple[str, bytes]]) -> float:
    from bostonia.app import build_services
    from bostonia.cards.reader import CardLimits, read_card_file
    from bostonia.config import load_settings
    from bostonia.plugins import make_plugin_manager

    settings = load_settings(None, overrides={"data_dir": str(data_dir)})
    limits = CardLimits.from_config(settings.uploads)
    started = time.perf_counter()
    for name, content in files:
        read_card_file(name, content, limits)
    parse_rate = len(files) / (time.perf_counter() - started)
    services = build_services(settings, make_plugin_manager([]))
    await services.start()
    try:
        owner = await services.auth.register("importer@bench.local", "benchmark password 1", "Importer")
        started = time.perf_counter()
        outcome = await services.transfer.import_files(owner, files)
        rate = len(outcome.characters) / (time.perf_counter() - started)
        assert not outcome.failures, outcome.failures[:3]
    finally:
        await services.stop()
    print(f"  import via the service          {rate:8.1f} cards/s   (parse only: {parse_rate:.0f} cards/s)")
    return rate


def measure_http_import(files: list[tuple[str, bytes]], service_rate: float) -> None:
    with running_server({"BOSTONIA_LOGGING_LEVEL": "WARNING"}) as client:
        headers = account(client, "bench@example.com")
        started = time.perf_counter()
        imported = 0
        for start in range(0, len(files), 25):
            batch = files[start : start + 25]
            parts = [("file", (name, content, "application/octet-stream")) for name, content in batch]
            response = client.post("/api/v1/characters/import", headers=headers, files=parts)
            response.raise_for_status()
            imported += len(response.json()["items"])
        rate = imported / (time.perf_counter() - started)
    print(f"  import via HTTP (25 files/request) {rate:5.1f} cards/s   ({rate / service_rate:.2f}x the service)")


def main() -> None:
    print(f"catalogue: {CHARACTERS:,} characters, {RUNS} runs per query (p50/p99 in ms; baseline in the same run)")
    workdir = Path(tempfile.mkdtemp(prefix="bostonia-catalogue-"))
    try:
        from bostonia.app import open_database
        from bostonia.config import load_settings

        settings = load_settings(None, overrides={"data_dir": str(workdir / "big")})
        db = open_database(settings, read_connections=1)
        db.migrate_sync()
        db.close()
        facts = generate(settings.database_path, CHARACTERS)
        size = settings.database_path.stat().st_size / 1e6
        print(
            f"  generated in {facts['seconds']:.1f} s ({CHARACTERS / facts['seconds']:,.0f} characters/s with FTS "
            f"triggers; {facts['conversations']:,} conversations, {facts['messages']:,} messages); db {size:.0f} MB"
        )
        asyncio.run(measure_catalogue(workdir / "big", facts))
        files = card_files(IMPORT_CARDS)
        service_rate = asyncio.run(measure_import(workdir / "import", files))
        measure_http_import(files, service_rate)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
