"""Login throttling: repeated failures for one email or from one IP are slowed, then blocked; unknown
and known emails are throttled alike, so responses never reveal which accounts exist."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.auth.throttle import LoginThrottle
from bostonia.errors import RateLimited
from tests.helpers import PASSWORD, error_of, post_form


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, free: int = 3, per_ip: int = 10, max_block: int = 60) -> LoginThrottle:
    return LoginThrottle(free_attempts=free, free_attempts_per_ip=per_ip, max_block_seconds=max_block, clock=clock)


def test_blocks_grow_exponentially_up_to_the_cap() -> None:
    clock = Clock()
    t = throttle(clock)
    for _ in range(3):
        t.check("a@example.com", None)
        t.failed("a@example.com", None)
    t.check("a@example.com", None)  # three free failures
    waits = []
    for _ in range(8):
        t.failed("a@example.com", None)
        with pytest.raises(RateLimited) as blocked:
            t.check("a@example.com", None)
        waits.append(blocked.value.retry_after)
        clock.now += blocked.value.retry_after
        t.check("a@example.com", None)  # the block has passed
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_success_clears_the_account_but_not_the_ip() -> None:
    clock = Clock()
    t = throttle(clock, free=1, per_ip=2)
    t.failed("a@example.com", "10.0.0.1")
    t.failed("a@example.com", "10.0.0.1")
    clock.now += 5
    t.succeeded("a@example.com")
    t.check("a@example.com", "10.0.0.2")
    t.failed("b@example.com", "10.0.0.1")  # third failure from this IP
    with pytest.raises(RateLimited):
        t.check("c@example.com", "10.0.0.1")


def test_emails_are_keyed_case_insensitively_and_failures_decay() -> None:
    clock = Clock()
    t = throttle(clock, free=1, max_block=10)
    t.failed("A@Example.com", None)
    t.failed("a@example.com ", None)
    with pytest.raises(RateLimited):
        t.check("a@EXAMPLE.com", None)
    clock.now += 100  # quiet for longer than twice the longest block: the count starts over
    t.failed("a@example.com", None)
    t.check("a@example.com", None)


@pytest.fixture
def settings() -> Any:
    from tests.helpers import make_settings

    return make_settings(auth={"login_free_attempts": 2, "login_free_attempts_per_ip": 50})


def test_repeated_failures_get_429_with_retry_after(client: TestClient[Any], alice: dict[str, Any]) -> None:
    def attempt(email: str, password: str = "wrong password") -> Any:
        return client.post("/api/v1/auth/login", json={"email": email, "password": password})

    for email in ("alice@example.com", "ghost@example.com"):
        assert [attempt(email).status_code for _ in range(2)] == [401, 401]
        third = attempt(email)
        assert third.status_code == 401  # the third failure is answered, then blocks the email
        blocked = attempt(email)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert error_of(blocked)["code"] == "login_throttled"
    # Known and unknown emails are indistinguishable while blocked, even with the right password.
    right = attempt("alice@example.com", PASSWORD)
    ghost = attempt("ghost@example.com", PASSWORD)
    assert right.status_code == ghost.status_code == 429 and error_of(right) == error_of(ghost)
    # Other accounts are not affected.
    assert (
        client.post("/api/v1/auth/register", json={"email": "carol@example.com", "password": PASSWORD}).status_code
        == 201
    )
    assert attempt("carol@example.com", PASSWORD).status_code == 200


def test_the_login_page_shows_the_block(client: TestClient[Any], alice: dict[str, Any]) -> None:
    for _ in range(3):
        post_form(client, "/login", {"email": "alice@example.com", "password": "wrong password"})
    page = post_form(
        client, "/login", {"email": "alice@example.com", "password": PASSWORD}, headers={"accept": "text/html"}
    )
    assert page.status_code == 429 and "too many failed sign-in attempts" in page.text
    assert page.headers["retry-after"]
