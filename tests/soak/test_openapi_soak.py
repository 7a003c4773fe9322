"""The long schemathesis run of `make soak`: every operation, valid and invalid inputs (positive and negative
generation), signed in and anonymous, at least 5,000 cases; 0 server errors and 0 answers the OpenAPI
document does not describe. Records its row in the soak table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis

from tests.openapi_support import fuzz, running_app, unique_failures
from tests.soak.report import record

POSITIVE_EXAMPLES = 18  # per operation and caller (small operations run out of distinct inputs sooner)
NEGATIVE_EXAMPLES = 3  # invalid inputs are slow to generate (most draws are discarded)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_openapi_conformance_soak(tmp_path: Path) -> None:
    started = time.perf_counter()
    with running_app(tmp_path / "data") as url:
        positive = fuzz(url, examples_per_operation=POSITIVE_EXAMPLES, modes=(schemathesis.GenerationMode.POSITIVE,))
        negative = fuzz(
            url, examples_per_operation=NEGATIVE_EXAMPLES, modes=(schemathesis.GenerationMode.NEGATIVE,), seed=1
        )
    cases = positive.cases + negative.cases
    failures = positive.failures + negative.failures
    record(
        "openapi_schemathesis",
        cases=cases,
        failures=len(failures),
        operations=positive.operations,
        negative_cases=negative.cases,
        minutes=round((time.perf_counter() - started) / 60, 1),
    )
    assert cases >= 5_000
    assert not failures, f"{len(failures)} failures:\n{unique_failures(positive)}\n{unique_failures(negative)}"
