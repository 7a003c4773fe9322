"""`make soak`: resident memory of the real server over 100 conversations, each with a reply on the bundled
model. Every conversation leaves a KV state behind (saved when the next one takes the model); the RAM LRU
(`[llm] kv_cache_mb`, set small here) and the disk spill (`kv_cache_disk_mb`) bound what they cost."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import PASSWORD
from tests.soak.report import record
from tests.soak.server import running_server

pytestmark = [pytest.mark.soak, pytest.mark.model, pytest.mark.timeout(3600)]
CONVERSATIONS = 100
KV_RAM_MB = 64
KV_DISK_MB = 128
# What the KV cache may hold plus slack for allocator noise, caches of tokens and prompts, and the SQLite page cache.
GROWTH_BOUND_MB = KV_RAM_MB + 160


def test_memory_stays_bounded_over_a_hundred_conversations(tmp_path: Path) -> None:
    env = {
        "BOSTONIA_LLM_MAX_TOKENS": "24",
        "BOSTONIA_LLM_KV_CACHE_MB": str(KV_RAM_MB),
        "BOSTONIA_LLM_KV_CACHE_DISK_MB": str(KV_DISK_MB),
        # 200 requests as fast as replies come: more than a free plan's minute allows, and not what this measures.
        "BOSTONIA_RATE_LIMITS_FREE": "100000",
    }
    samples: dict[int, float] = {}
    failures = 0
    with running_server(tmp_path / "data", env=env) as server, httpx.Client(base_url=server.url, timeout=300) as client:
        token = client.post("/api/v1/auth/register", json={"email": "rss@example.com", "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        characters = client.get("/api/v1/characters").json()["items"]
        for n in range(1, CONVERSATIONS + 1):
            created = client.post(
                "/api/v1/conversations", json={"character_id": characters[n % len(characters)]["id"]}, headers=headers
            )
            assert created.status_code == 201, created.text
            conversation = created.json()
            reply = client.post(
                f"/api/v1/conversations/{conversation['id']}/messages",
                json={"content": f"Hello, this is conversation number {n}. How are you today?"},
                headers=headers,
            )
            failures += reply.status_code != 201
            if n in (1, 10, 25, 50, 75, 100):
                samples[n] = server.rss_mb()
        spilled = sum(p.stat().st_size for p in (tmp_path / "data" / "kvcache").rglob("*") if p.is_file()) / 2**20
    growth = round(samples[100] - samples[10], 1)
    record(
        "memory: 100 conversations",
        cases=CONVERSATIONS,
        failures=failures + int(growth > GROWTH_BOUND_MB) + int(spilled > KV_DISK_MB),
        **{f"rss_mb_at_{n}": mb for n, mb in samples.items()},
        growth_10_to_100_mb=growth,
        kv_ram_cap_mb=KV_RAM_MB,
        kv_disk_mb=round(spilled, 1),
    )
    assert failures == 0
    assert growth <= GROWTH_BOUND_MB, samples
    assert spilled <= KV_DISK_MB
