"""Issue 5: the prompt/KV-cache design, on the bundled model, through the HTTP API (SSE).

(a) TTFT returning to a ~3,000-token conversation A after a reply in conversation B took its slot (one
    slot), with the KV-state cache vs without it (same run; the cache turned off in a second server). Also
    with 5 s of "reading time" before returning, which lets the idle model re-read A in the background.
(b) TTFT at turns 28-30 / turns 2-4 with lore and memory injection active: the character's real lorebook
    (an entry per word the chat uses, so lore changes every turn) and the real memory injector (recall
    over the conversation's indexed messages, MiniLM embeddings), once indexing has finished.
(c) Four users chatting at once: p50/p99 TTFT and tokens/s per user.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from benchmarks.common import PASSWORD, percentile, serve_app, stream_reply

WORDS = (
    "forest river lantern guardian shadow ember moss stone whisper road tavern song blade healer storm meadow owl "
    "silver dawn harvest bridge mountain ancient spell wound rest journey"
).split()


def long_chat(tag: str, character: str, messages: int, rng: random.Random) -> str:
    lines = [json.dumps({"user_name": "User", "character_name": character, "create_date": "2026-01-01"})]
    for i in range(messages):
        text = f"{tag} " + " ".join(rng.choice(WORDS) for _ in range(45)) + "."
        lines.append(
            json.dumps(
                {
                    "name": "User" if i % 2 == 0 else character,
                    "is_user": i % 2 == 0,
                    "is_system": False,
                    "send_date": "2026-01-01",
                    "mes": text,
                }
            )
        )
    return "\n".join(lines)


# A card whose lorebook has an entry for every word the chats use: lore changes with every turn.
LORE_CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Valley Keeper",
        "first_mes": "Welcome, traveller. Ask me anything about the valley.",
        "description": "An old keeper who knows every stone and story of the valley.",
        "personality": "patient, wry, precise",
        "scenario": "{{user}} rests at the keeper's hut.",
        "character_book": {
            "scan_depth": 2,
            "token_budget": 400,
            "entries": [
                {
                    "keys": [word],
                    "enabled": True,
                    "insertion_order": 100 + n,
                    "extensions": {},
                    "content": f"[The {word} of the valley is older than the kingdom; travellers leave offerings.]",
                }
                for n, word in enumerate(WORDS)
            ],
        },
    },
}


def account(client: httpx.Client, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def import_chat(client: httpx.Client, headers: dict[str, str], character_id: str, text: str) -> str:
    response = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character_id},
        files={"file": ("chat.jsonl", text.encode(), "application/jsonl")},
        headers=headers,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def ttft(timings: dict[str, Any]) -> float:
    return float(timings["stamps"][0] - timings["started"])


def wait_indexed(client: httpx.Client, headers: dict[str, str], conversation_id: str) -> None:
    deadline = time.monotonic() + 300
    while client.get(f"/api/v1/memory/{conversation_id}/status", headers=headers).json()["pending"]:
        if time.monotonic() > deadline:
            raise RuntimeError("indexing did not finish")
        time.sleep(0.5)


@contextmanager
def server(kv_cache: bool, max_tokens: int, parallel: int | None = None) -> Iterator[httpx.Client]:
    overrides = {
        "llm": {
            "max_tokens": max_tokens,
            "temperature": 0.7,
            **({"parallel": parallel} if parallel else {}),
            **({} if kv_cache else {"kv_cache_mb": 0, "kv_cache_disk_mb": 0}),
        }
    }
    with serve_app(overrides) as client:
        yield client


def return_to_a(kv_cache: bool, think_time: float) -> tuple[float, float, int]:
    rng = random.Random(7)
    # One slot, so that B's reply takes A's: with more, A stays resident and the state cache is not used.
    with server(kv_cache, max_tokens=120, parallel=1) as client:
        headers = account(client, "a@example.com")
        character = client.get("/api/v1/characters").json()["items"][0]
        a = import_chat(client, headers, character["id"], long_chat("alpha", character["name"], 64, rng))
        b = import_chat(client, headers, character["id"], long_chat("beta", character["name"], 64, rng))
        prompt = client.get(f"/api/v1/conversations/{a}/prompt", params={"content": "Go on."}, headers=headers).json()
        first = ttft(stream_reply(client, headers, a, "What did we talk about?"))
        stream_reply(client, headers, b, "And here?")
        time.sleep(think_time)
        back = ttft(stream_reply(client, headers, a, "Go on."))
        return first, back, int(prompt["total_tokens"])


FOLLOW_UPS = ("And the river by the mountain?", "What of the old bridge at dawn?", "Tell me of the owl in the meadow.")


def turn_ratio(think_time: float = 0.0) -> tuple[list[float], list[float]]:
    """TTFT of turns 2-4 and of turns 28-30 (three turns each: the memory context block moves once in
    three turns, so one of each three pays for that); `think_time`: seconds between a reply and the next
    message (a user reading and typing; the idle model meanwhile pre-reads the next prompt)."""
    rng = random.Random(11)
    with server(True, max_tokens=60) as client:
        headers = account(client, "t@example.com")
        imported = client.post(
            "/api/v1/characters/import",
            headers=headers,
            files={"file": ("keeper.json", json.dumps(LORE_CARD).encode(), "application/json")},
        )
        imported.raise_for_status()
        body = imported.json()
        character = body["items"][0] if "items" in body else body
        short = import_chat(client, headers, character["id"], long_chat("short", character["name"], 1, rng))
        long = import_chat(client, headers, character["id"], long_chat("long", character["name"], 53, rng))
        for conversation in (short, long):
            wait_indexed(client, headers, conversation)
        measured: list[list[float]] = []
        for conversation in (short, long):
            stream_reply(client, headers, conversation, "The forest road, tell me of it.")  # turn 1 / 27
            turns = []
            for text in FOLLOW_UPS:
                time.sleep(think_time)
                turns.append(ttft(stream_reply(client, headers, conversation, text)))
            measured.append(turns)
        return measured[0], measured[1]


def four_users() -> dict[str, Any]:
    results: dict[int, list[dict[str, float]]] = {n: [] for n in range(4)}
    with server(True, max_tokens=80) as client:
        characters = client.get("/api/v1/characters").json()["items"]
        users = [account(client, f"u{n}@example.com") for n in range(4)]
        conversations = [
            client.post(
                "/api/v1/conversations", json={"character_id": characters[n % 3]["id"]}, headers=users[n]
            ).json()["id"]
            for n in range(4)
        ]

        def chat(n: int) -> None:
            for turn in range(3):
                timings = stream_reply(client, users[n], conversations[n], f"Tell me something new, part {turn}.")
                tokens = timings["message"]["tokens_used"] or len(timings["stamps"])
                stamps = timings["stamps"]
                results[n].append(
                    {
                        "ttft": ttft(timings),
                        "tokens_per_s": tokens / max(1e-6, stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0,
                    }
                )

        threads = [threading.Thread(target=chat, args=(n,)) for n in range(4)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    ttfts = [r["ttft"] for rs in results.values() for r in rs]
    return {
        "ttfts": ttfts,
        "per_user_rate": [statistics.mean(r["tokens_per_s"] for r in results[n]) for n in range(4)],
        "per_user_ttft": [statistics.mean(r["ttft"] for r in results[n]) for n in range(4)],
        "elapsed": elapsed,
    }


def main() -> None:
    print("chat engine: bundled model, through the HTTP API (SSE), cold servers per measurement")
    cold_first, cold_back, tokens = return_to_a(kv_cache=False, think_time=0)
    warm_first, warm_back, _ = return_to_a(kv_cache=True, think_time=0)
    _, idle_back, _ = return_to_a(kv_cache=True, think_time=5)
    print(
        f"  (a) back to A (~{tokens} prompt tokens) after a reply in B: TTFT with the state cache "
        f"{warm_back:.2f}s vs without {cold_back:.2f}s = {warm_back / cold_back:.3f}x (goal <= 0.05); "
        f"after 5 s of reading time {idle_back:.2f}s = {idle_back / cold_back:.3f}x "
        f"(first visit {warm_first:.1f}s / {cold_first:.1f}s)"
    )
    for think in (0.0, 3.0):
        early, late = turn_ratio(think)
        ratio = statistics.mean(late) / statistics.mean(early)
        print(
            f"  (b) with lore + memory injections, {think:.0f} s between turns: TTFT turns 28-30 "
            f"[{', '.join(f'{t:.2f}' for t in late)}]s / turns 2-4 [{', '.join(f'{t:.2f}' for t in early)}]s, "
            f"means {ratio:.2f}x (goal <= 1.5)"
        )
    load = four_users()
    rates = ", ".join(f"{rate:.1f}" for rate in load["per_user_rate"])
    print(
        f"  (c) 4 users x 3 turns at once ({load['elapsed']:.0f}s): TTFT p50 {percentile(load['ttfts'], 50):.2f}s "
        f"p99 {percentile(load['ttfts'], 99):.2f}s; tokens/s per user while streaming [{rates}]; "
        f"mean TTFT per user [{', '.join(f'{t:.1f}' for t in load['per_user_ttft'])}]s"
    )


if __name__ == "__main__":
    main()
