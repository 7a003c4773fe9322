"""Rate limiting for HTTP requests: the RateLimiter (bostonia.ratelimit) as middleware.

Signed-in callers are counted by user (their tier's limit), anonymous ones by client IP. A refused
request gets 429 with `Retry-After` and the JSON error (or an HTML page for a browser navigation).
Every counted response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bostonia.errors import RateLimited
from bostonia.http.auth import Credentials, client_ip, resolve_user
from bostonia.http.errors import send_error
from bostonia.ratelimit.service import RateLimiter

# Probes, static files and avatars are never limited: monitoring and page assets must keep working.
EXEMPT_PATHS = ("/health", "/ready", "/metrics", "/static", "/media")


def is_exempt(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in EXEMPT_PATHS)


def rate_limit_middleware(limiter: RateLimiter, auth: Credentials) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not limiter.enabled or is_exempt(scope["path"]):
                await app(scope, receive, send)
                return
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope, receive)
            user = await resolve_user(connection, auth)
            try:
                allowance = await limiter.hit(user, client_ip(connection))
            except RateLimited as exc:
                await send_error(scope, receive, send, exc)
                return
            headers = [
                (b"x-ratelimit-limit", str(allowance.limit).encode()),
                (b"x-ratelimit-remaining", str(allowance.remaining).encode()),
                (b"x-ratelimit-reset", str(allowance.reset_after).encode()),
            ]

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *headers]
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return factory
