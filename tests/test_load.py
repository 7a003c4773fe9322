"""The quick load run against the real server: 30 WebSocket clients for 10 s (rooms typing, pinging and
talking, two chats generating on the bundled model, API reads), then a burst past the rate limit. The full
run (200 clients, 60 s) is `make soak`: tests/soak/test_load_soak.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.load import SERVER_ENV, burst, run_load
from tests.soak.server import running_server

pytestmark = [pytest.mark.model, pytest.mark.timeout(600)]


def test_thirty_clients_for_ten_seconds_lose_nothing_and_a_burst_is_refused_at_once(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", env={**SERVER_ENV, "BOSTONIA_LLM_THREADS": "1"}) as server:
        result = run_load(server, clients=30, seconds=10, generating=2)
        figures = result.figures()
        assert result.errors == [], result.errors[:5]
        assert result.lost == 0 and result.sent > 20, figures
        assert result.presence_seen > 0 and result.typing_seen > 0, figures
        assert len(result.latencies_ms["ping"]) > 20 and len(result.latencies_ms["api"]) > 5, figures
        # A loose bound, nothing stalls (CI and this machine are shared); `make soak` reports p99 against 50 ms.
        assert figures["p99_ms"] < 5000, figures
        refused = burst(server, requests=150)
    assert refused.ok <= 100 and refused.limited >= 50, refused
    assert refused.retry_after
    # Answered at once, not held until the minute is over: a limiter that queued the excess would take up to 60 s.
    # The bound is loose because 150 connections open at once on two cores that CI shares with compilers (3.2 s seen).
    assert refused.p99_limited_ms < 15_000, refused
