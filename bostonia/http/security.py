"""Browser security: CSRF protection for cookie-authenticated requests, and security headers.

CSRF uses Litestar's double-submit cookie (`CSRFMiddleware`): pages render the token in every form
(`{{ csrf_input }}`) and in an `hx-headers` attribute for HTMX. Requests that carry no ambient
authority need no token: a Bearer token is sent deliberately by the client, and an API request without
the session cookie authenticates nothing a forged request could abuse. Every other unsafe request —
page forms (signed in or not), HTMX, and the JSON API used with the session cookie — must match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Message, Receive, Scope, Send

from bostonia.errors import PermissionDenied
from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.errors import send_error

CSRF_COOKIE = "bostonia_csrf"
CSRF_HEADER = "x-csrftoken"
CSRF_FIELD = "_csrf_token"  # the hidden input Litestar's `csrf_input` renders
API_PREFIXES = ("/api/", "/v1/")

# Only this origin: the app's own script files (htmx and its extensions are vendored in /static/vendor),
# no inline script or style, no framing, forms post only here.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), payment=(), microphone=(self)"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Litestar's OpenAPI viewers at /schema load their scripts from a CDN; they show no user content.
CSP_EXEMPT_PREFIX = "/schema"


def csrf_config(signing_secret: str, *, secure: bool) -> CSRFConfig:
    # The CSRF secret is derived from the instance secret, so restarting keeps open forms valid.
    secret = hmac.new(signing_secret.encode(), b"bostonia csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=secure,
        cookie_samesite="lax",
        cookie_httponly=True,  # pages carry the token themselves; scripts never need the cookie
    )


def needs_no_csrf_token(scope: Scope) -> bool:
    """Unsafe requests that carry no ambient (cookie) authority."""
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return True
    return scope["path"].startswith(API_PREFIXES) and SESSION_COOKIE not in connection.cookies


class BostoniaCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, skipped for Bearer and cookie-less API requests, answering a failure
    with the usual error shape (JSON 403 for API and HTMX, an error page for a form)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") not in self.config.safe_methods
            and needs_no_csrf_token(scope)
        ):
            await self.app(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        except PermissionDeniedException:
            await send_error(
                scope,
                receive,
                send,
                PermissionDenied("CSRF token missing or invalid: reload the page and try again", code="csrf_failed"),
            )


def security_headers(*, https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A `before_send` hook: every response, error pages and 404s included, gets the headers.
    Behind HTTPS (`[auth] secure_cookies`), browsers are also told to stay on HTTPS (HSTS)."""
    fixed = [*SECURITY_HEADERS]
    if https:
        fixed.append((b"strict-transport-security", b"max-age=31536000"))

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        extra = [(name, value) for name, value in fixed if name not in present]
        if b"content-security-policy" not in present and not scope.get("path", "").startswith(CSP_EXEMPT_PREFIX):
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        message["headers"] = [*headers, *extra]

    return add
