"""Rate limits: per user by tier, per IP for anonymous clients; 429 with Retry-After and the JSON error
(or a page for browsers); probes and static files are never limited."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from websockets.sync.client import connect

from bostonia.config import RateLimitConfig, Settings
from bostonia.errors import RateLimited
from bostonia.identity import User
from bostonia.ratelimit.service import RateLimiter
from tests.helpers import bearer, error_of, make_settings, new_conversation, register

LIMITS = {"free": 5, "plus": 8, "pro": 12, "creator": 20, "anonymous": 3}


def hit(limiter: RateLimiter, who: User | None, ip: str) -> Any:
    return asyncio.run(limiter.hit(who, ip))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def user(tier: str = "free", user_id: str = "u1") -> User:
    return User(
        id=user_id,
        email="u@example.com",
        display_name="u",
        role="user",
        tier=tier,  # type: ignore[arg-type]
        is_active=True,
        age_verified=False,
        content_tier="sfw",
        created_at="",
    )


def test_the_window_slides_and_retry_after_is_exact() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitConfig(free=3), clock=clock)
    for expected_remaining in (2, 1, 0):
        assert (hit(limiter, user(), "1.2.3.4")).remaining == expected_remaining
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        hit(limiter, user(), "1.2.3.4")
    assert refused.value.retry_after == 30  # the first request leaves the window 60 s after it came
    clock.now += 29
    with pytest.raises(RateLimited):
        hit(limiter, user(), "1.2.3.4")  # refused requests are not counted
    clock.now += 1
    assert (hit(limiter, user(), "1.2.3.4")).remaining == 0


def test_limits_follow_the_tier_and_keys_are_separate() -> None:
    limiter = RateLimiter(RateLimitConfig(**LIMITS), clock=Clock())
    for tier, limit in LIMITS.items():
        who = None if tier == "anonymous" else user(tier, user_id=tier)
        assert limiter.limit_for(who) == limit
        for _ in range(limit):
            hit(limiter, who, "10.0.0.9")
        with pytest.raises(RateLimited):
            hit(limiter, who, "10.0.0.9")
    # Another IP, and a signed-in user on the same IP, have their own allowances.
    hit(limiter, None, "10.0.0.10")
    hit(limiter, user("free", user_id="other"), "10.0.0.9")


def test_disabled_limits_count_nothing() -> None:
    limiter = RateLimiter(RateLimitConfig(enabled=False, anonymous=1), clock=Clock())
    for _ in range(5):
        hit(limiter, None, "1.1.1.1")


@pytest.fixture
def settings() -> Settings:
    return make_settings(rate_limits=LIMITS)


def test_signed_in_users_get_429_with_retry_after(client: TestClient[Any]) -> None:
    account = register(client, "alice@example.com")
    statuses = []
    for _ in range(LIMITS["free"] + 1):
        response = client.get("/api/v1/users/me", headers=bearer(account))
        statuses.append(response.status_code)
    assert statuses == [200] * LIMITS["free"] + [429]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    error = error_of(response)
    assert error["code"] == "rate_limited" and error["details"]["limit"] == LIMITS["free"]


def test_headers_report_what_is_left(client: TestClient[Any]) -> None:
    account = register(client, "alice@example.com")
    response = client.get("/api/v1/users/me", headers=bearer(account))
    assert response.headers["x-ratelimit-limit"] == str(LIMITS["free"])
    assert response.headers["x-ratelimit-remaining"] == str(LIMITS["free"] - 1)


def test_a_higher_tier_gets_more(client: TestClient[Any]) -> None:
    # The registering requests are anonymous; use separate IPs' worth of budget by being signed in.
    admin = register(client, "root@example.com")
    client.get("/api/v1/users/me", headers=bearer(admin))
    pro = register(client, "pro@example.com")
    assert (
        client.patch(
            f"/api/v1/admin/users/{pro['user']['id']}", json={"tier": "pro"}, headers=bearer(admin)
        ).status_code
        == 200
    )
    codes = [client.get("/api/v1/users/me", headers=bearer(pro)).status_code for _ in range(LIMITS["pro"] + 1)]
    assert codes.count(200) == LIMITS["pro"] and codes[-1] == 429


def test_anonymous_clients_are_limited_by_ip(client: TestClient[Any]) -> None:
    codes = [client.get("/api/v1/characters").status_code for _ in range(LIMITS["anonymous"] + 1)]
    assert codes == [200] * LIMITS["anonymous"] + [429]
    # Probes and static files stay reachable.
    for path in ("/health", "/ready", "/metrics", "/static/app.css"):
        assert client.get(path).status_code == 200, path


def test_browsers_get_a_429_page(client: TestClient[Any]) -> None:
    for _ in range(LIMITS["anonymous"]):
        client.get("/", headers={"accept": "text/html"})
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 429 and "text/html" in page.headers["content-type"]
    assert "rate limit exceeded" in page.text and page.headers["retry-after"]
    assert page.headers["content-security-policy"]  # refused responses carry the security headers too


def test_refusals_are_logged_with_their_real_status(client: TestClient[Any]) -> None:
    for _ in range(LIMITS["anonymous"] + 1):
        client.get("/api/v1/characters")
    metrics = client.get("/metrics").text
    assert 'status="429"' in metrics and 'status="500"' not in metrics


def test_websocket_frames_share_the_users_budget(live: httpx.Client, settings: Settings) -> None:
    """A frame over the limit gets an `error` event with `retry_after`, is not acted on, and the socket
    stays open. HTTP requests and frames draw on the same budget."""
    account = register(live, "alice@example.com")  # anonymous: counted by IP
    conversation = new_conversation(live, account)  # 1 of the user's budget
    url = str(live.base_url).replace("http://", "ws://") + f"/ws?token={account['access_token']}"
    with connect(url, open_timeout=10) as ws:
        for n in range(LIMITS["free"] - 1):
            ws.send(json.dumps({"event": "ping", "data": {"n": n}}))
            assert json.loads(ws.recv(timeout=10)) == {"event": "pong", "data": {"n": n}}
        ws.send(json.dumps({"event": "message:send", "data": {"conversation_id": conversation["id"], "content": "Hi"}}))
        refused = json.loads(ws.recv(timeout=10))
        assert refused["event"] == "error" and refused["data"]["code"] == "rate_limited"
        assert 1 <= refused["data"]["retry_after"] <= 60
        ws.send("not even json")  # still counted, still refused, socket still open
        assert json.loads(ws.recv(timeout=10))["data"]["code"] == "rate_limited"
    with sqlite3.connect(settings.database_path) as db:
        assert db.execute("select count(*) from messages where role = 'user'").fetchone() == (0,)
    assert live.get("/api/v1/users/me", headers=bearer(account)).status_code == 429
