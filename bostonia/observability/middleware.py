"""Per-request plumbing: a request id, a latency metric and one JSON log line per request."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bostonia.observability.logs import request_id
from bostonia.observability.metrics import Metrics

log = logging.getLogger("bostonia.request")
REQUEST_ID_HEADER = b"x-request-id"


def request_middleware(metrics: Metrics) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
            rid = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
            token = request_id.set(rid)
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, rid.encode())]
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("path_template") or "unmatched"
                method = str(scope.get("method", ""))
                metrics.request_latency.labels(method, route, str(status)).observe(elapsed)
                metrics.recent.observe(status)
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
                request_id.reset(token)

        return middleware

    return factory
