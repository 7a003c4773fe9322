"""The real server (`bostonia serve`, the bundled model) killed with SIGKILL mid-stream, three times: the
database stays intact, no acknowledged user message is lost, and each interrupted reply is kept, marked
interrupted (`make soak` runs 20 rounds: tests/soak/test_crash_soak.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.crash import run_crash_rounds, summary

pytestmark = [pytest.mark.model, pytest.mark.timeout(600)]
# One thread: another worker may run a model test at the same time (two 2-thread models crawl on 2 cores).
ONE_THREAD = {"BOSTONIA_LLM_THREADS": "1"}


def test_kill_9_mid_stream_three_times_loses_nothing_acknowledged(tmp_path: Path) -> None:
    result = run_crash_rounds(tmp_path / "data", 3, env=ONE_THREAD)
    assert result.failures == []
    assert result.rounds == 3
    assert all(kept > 0 for kept in result.kept_chars), summary(result)
