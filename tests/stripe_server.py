"""A local HTTP server that answers like the Stripe API for the calls the plugin makes, and records them.

Tests point the plugin's `api_base` at it; nothing leaves the machine.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StripeCall:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    base: str = ""
    calls: list[StripeCall] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls]

    def last(self, path: str) -> StripeCall:
        return next(c for c in reversed(self.calls) if c.path == path)


def _answer(path: str, n: int) -> tuple[int, dict[str, Any]]:
    if path == "/v1/checkout/sessions":
        return 200, {
            "id": f"cs_test_{n}",
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/{n}",
            "customer": "cus_test_1",
        }
    if path.startswith("/v1/subscriptions/"):
        return 200, {"id": path.rsplit("/", 1)[1], "object": "subscription", "cancel_at_period_end": True}
    if path == "/v1/billing_portal/sessions":
        return 200, {"id": f"bps_{n}", "object": "billing_portal.session", "url": "https://billing.stripe.test/portal"}
    if path == "/v1/accounts":
        return 200, {"id": "acct_test_1", "object": "account"}
    if path == "/v1/account_links":
        return 200, {"object": "account_link", "url": "https://connect.stripe.test/onboarding"}
    if path == "/v1/transfers":
        return 200, {"id": f"tr_test_{n}", "object": "transfer"}
    return 404, {"error": {"type": "invalid_request_error", "message": f"no such route {path}"}}


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    state = FakeStripe()
    counter = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            path = urllib.parse.urlsplit(self.path).path
            state.calls.append(StripeCall("POST", path, form, {k.lower(): v for k, v in self.headers.items()}))
            status, payload = _answer(path, next(counter))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_test")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
