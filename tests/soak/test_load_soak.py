"""`make soak`: 200 WebSocket clients for 60 s against the real server, then a burst past the rate limit (the
quick 30 × 10 s is tests/test_load.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.load import SERVER_ENV, burst, run_load
from tests.soak.report import record
from tests.soak.server import running_server

pytestmark = [pytest.mark.soak, pytest.mark.model, pytest.mark.timeout(1800)]
P99_GOAL_MS = 50


def test_two_hundred_clients_for_a_minute(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", env=SERVER_ENV) as server:
        result = run_load(server, clients=200, seconds=60, generating=4)
        rss = server.rss_mb()
        refused = burst(server, requests=150)
    figures = result.figures()
    failures = len(result.errors) + result.lost
    record(
        "load: 200 ws clients x 60 s",
        cases=result.sent + sum(len(v) for v in result.latencies_ms.values()),
        failures=failures,
        errors=len(result.errors),
        **{k: v for k, v in figures.items() if k not in ("clients", "seconds")},
        p99_goal_met=figures["p99_ms"] <= P99_GOAL_MS,
        rss_mb=rss,
    )
    record(
        "load: burst past the rate limit",
        cases=refused.requests,
        failures=int(not (refused.limited >= 50 and refused.retry_after and refused.p99_limited_ms < 2000)),
        answered_429=refused.limited,
        answered_200=refused.ok,
        p99_429_ms=refused.p99_limited_ms,
    )
    assert result.errors == [], result.errors[:5]
    assert result.lost == 0 and result.generations > 0, figures
    assert refused.limited >= 50 and refused.retry_after, refused
