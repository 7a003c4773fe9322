"""`make soak`: 20 rounds of kill -9 mid-stream against the real server (the quick 3 are tests/test_crash_kill.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.crash import run_crash_rounds, summary
from tests.soak.report import record

pytestmark = [pytest.mark.soak, pytest.mark.model, pytest.mark.timeout(3600)]
ROUNDS = 20


def test_twenty_kills_mid_stream(tmp_path: Path) -> None:
    result = run_crash_rounds(tmp_path / "data", ROUNDS)
    problems = [failure for failure in result.failures if not failure.startswith("server log")]
    record("crash: kill -9 mid-stream", cases=ROUNDS, failures=len(problems), **summary(result))
    assert result.failures == [] and result.rounds == ROUNDS
