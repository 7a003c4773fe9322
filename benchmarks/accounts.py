"""Issue 3: what accounts and security cost per request. Latency of an anonymous probe (/health: no
auth, no rate limit) as the baseline, vs an anonymous API list (rate-limited by IP), a Bearer request
(JWT check + sign-in lookup + user lookup + per-user limit) and a cookie page (session lookup + CSRF
cookie + template); plus the in-process rate limiter's raw speed."""

from __future__ import annotations

import time

import httpx

from benchmarks.common import account, median, percentile, running_server
from bostonia.config import RateLimitConfig
from bostonia.ratelimit.service import RateLimiter

REQUESTS = 300
ENV = {f"BOSTONIA_RATE_LIMITS_{tier.upper()}": "1000000" for tier in ("free", "plus", "pro", "creator", "anonymous")}


def timed(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> list[float]:
    for _ in range(20):  # warm up
        client.get(path, headers=headers)
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def limiter_speed() -> float:
    limiter = RateLimiter(RateLimitConfig(free=1000))
    hits = 200_000
    started = time.perf_counter()
    for i in range(hits):
        limiter.hit_key(f"user:{i % 500}", 1000)
    return hits / (time.perf_counter() - started)


def main() -> None:
    with running_server(ENV) as client:
        bearer = account(client, "bench@example.com")
        login = client.post(
            "/login",
            data={"email": "bench@example.com", "password": "benchmark password 1", "_csrf_token": _csrf(client)},
        )
        assert login.status_code in (200, 303), login.status_code
        with httpx.Client(base_url=client.base_url) as cookieless:  # no session cookie
            rows = {
                "GET /health (baseline)": timed(cookieless, "/health"),
                "GET /api/v1/characters (anonymous)": timed(cookieless, "/api/v1/characters"),
                "GET /api/v1/users/me (Bearer)": timed(cookieless, "/api/v1/users/me", bearer),
                "GET /account (session cookie)": timed(client, "/account"),
            }
    base = median(rows["GET /health (baseline)"])
    print(f"accounts: request latency over {REQUESTS} sequential requests each (ms)")
    for name, samples in rows.items():
        print(
            f"  {name:<38} p50 {median(samples):6.2f}  p99 {percentile(samples, 99):6.2f}"
            f"  ({median(samples) / base:4.1f}x baseline)"
        )
    print(f"  rate limiter: {limiter_speed():,.0f} checks/s in process (500 keys, 1000-request windows)")


def _csrf(client: httpx.Client) -> str:
    client.get("/login")
    return str(client.cookies["bostonia_csrf"])


if __name__ == "__main__":
    main()
