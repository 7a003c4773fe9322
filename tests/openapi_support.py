"""Schemathesis against a running app: every operation of /schema/openapi.json, valid and invalid inputs, as an
anonymous caller and as a signed-in user; each answer must be no server error and must match what the document
says (status, content type, body schema). tests/test_openapi.py runs a sample, tests/soak/ the long run."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, make_settings, serve_in_thread

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass
class Caller:
    """Who the cases are sent as: a user, re-registered whenever a case deleted the account or its session."""

    client: httpx.Client
    token: str = ""
    accounts: Iterator[int] = field(default_factory=itertools.count)

    def sign_in(self) -> None:
        email = f"fuzz{next(self.accounts)}-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": "Fuzz"}
        response = self.client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        self.token = response.json()["access_token"]

    def still_signed_in(self) -> None:
        me = self.client.get("/api/v1/users/me", headers={"authorization": f"Bearer {self.token}"})
        if me.status_code == 401:
            self.sign_in()


@dataclass
class Outcome:
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    operations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per operation: where a long run spends its time


@contextmanager
def running_app(data_dir: Path) -> Iterator[str]:
    """The app on a real server (streams, real sockets), a scripted model as its chat model."""
    settings = make_settings(data_dir=str(data_dir))
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    with serve_in_thread(create_app(settings, services=build_services(settings, plugins))) as url:
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/ready").status_code != 200:  # models loading at start-up: /ready says 503
            assert time.monotonic() < deadline, "the app did not become ready"
            time.sleep(0.1)
        yield url


def fuzz(
    url: str,
    *,
    examples_per_operation: int,
    seed: int = 0,
    modes: tuple[schemathesis.GenerationMode, ...] = MODES,
    callers: tuple[bool, ...] = (False, True),
) -> Outcome:
    """Run every operation `examples_per_operation` times per generation mode; collect failures (never stop)."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    outcome = Outcome()
    with httpx.Client(base_url=url, timeout=30) as client:
        caller = Caller(client)
        caller.sign_in()
        for result in schema.get_all_operations():
            operation = result.ok()
            outcome.operations += 1
            started = time.perf_counter()
            for mode, anonymous in itertools.product(modes, callers):
                with suppress(hypothesis.errors.Unsatisfiable):  # nothing to generate in this mode
                    _run_operation(operation, mode, anonymous, url, caller, outcome, examples_per_operation, seed)
            outcome.seconds[operation.label] = time.perf_counter() - started
    return outcome


def _run_operation(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    anonymous: bool,
    url: str,
    caller: Caller,
    outcome: Outcome,
    examples: int,
    seed: int,
) -> None:
    label = f"{operation.label} ({mode.value}{', anonymous' if anonymous else ''})"

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],  # every failure is collected; none is shrunk
        print_blob=False,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        headers = {} if anonymous else {"authorization": f"Bearer {caller.token}"}
        outcome.cases += 1
        try:
            response = case.call(base_url=url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup, Failure) as exc:
            outcome.failures.append(f"{label}: {_first_line(exc)}")
        if not anonymous and case.method.upper() in ("POST", "DELETE", "PATCH", "PUT"):
            caller.still_signed_in()

    run()


def _first_line(exc: BaseException) -> str:
    parts = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
    return " || ".join(f"{getattr(part, 'title', type(part).__name__)}: {_brief(part)}" for part in parts)


def _brief(failure: BaseException) -> str:
    message = getattr(failure, "message", None) or str(failure)
    return " ".join(message.split())[:300]


def unique_failures(outcome: Outcome, limit: int = 40) -> str:
    seen = sorted(set(outcome.failures))
    return "\n".join(seen[:limit]) + (f"\n... {len(seen) - limit} more" if len(seen) > limit else "")
