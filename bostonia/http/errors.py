"""Map domain errors and framework exceptions to `{"error": {"code", "message", "details"}}`.

API paths always get JSON. Pages get an HTML error page (or a redirect to the login form).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bostonia import errors

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.BostoniaError], int] = {
    errors.InvalidInput: 422,
    errors.BadRequest: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PaymentRequired: 402,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.NotSupported: 501,
    errors.ConfigError: 500,
}


# OpenAI's error `type` for a status (its clients branch on it).
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def status_for(exc: errors.BostoniaError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def wants_html(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/ws")) or request.headers.get("hx-request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    if wants_html(request):
        if status == 401:
            return Redirect(f"/login?next={quote(request.url.path)}")
        return Template(
            template_name="error.html",
            status_code=status,
            headers=headers,
            context={"status": status, "message": message, "user": None},
        )
    body: dict[str, Any] = {"error": {"code": code, "message": message, "details": details}}
    if request.url.path.startswith("/v1/"):  # the OpenAI-compatible API: OpenAI's fields beside ours
        status = 400 if status == 422 else status  # OpenAI answers every invalid request with 400
        field = details.get("field") if isinstance(details, dict) else None
        body["error"] |= {"type": OPENAI_ERROR_TYPES.get(status, "api_error"), "param": field}
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: errors.BostoniaError) -> Response[Any]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.RateLimited) else None
    return error_response(request, status_for(exc), exc.code, exc.message, exc.details, headers)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("server error: %s", exc.detail, exc_info=exc)
        return error_response(request, status, "internal_error", "internal server error")
    if isinstance(exc, ValidationException):
        details = exc.extra if isinstance(exc.extra, list) else None
        return error_response(request, 400, "validation_error", _validation_message(details) or exc.detail, details)
    if status == 413:  # the body is over `[server] max_body_bytes` (Litestar stops reading it there)
        limit = request.app.request_max_body_size
        message = f"the request body is larger than the limit of {limit} bytes" if limit else "request body too large"
        return error_response(request, 413, "payload_too_large", message, {"max_bytes": limit})
    code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return error_response(
        request, status, code, exc.detail or HTTPStatus(status).phrase, exc.extra or None, dict(exc.headers or {})
    )


def _validation_message(details: list[Any] | None) -> str | None:
    if not details:
        return None
    first = details[0]
    if isinstance(first, dict) and first.get("key") == "data" and first.get("message") == "'data'":
        return "a JSON request body is required"  # Litestar's way of saying the body was empty
    if isinstance(first, dict) and first.get("message"):
        key = f" ({first['key']})" if first.get("key") else ""
        return f"invalid request{key}: {first['message']}"
    return None


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal_error", "internal server error")


EXCEPTION_HANDLERS = {
    errors.BostoniaError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


def handler_for(exc: Exception) -> Callable[[Request[Any, Any, Any], Any], Response[Any]]:
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_HANDLERS:
            return EXCEPTION_HANDLERS[cls]  # type: ignore[return-value]
    return handle_unexpected


def error_boundary(app: ASGIApp) -> ASGIApp:
    """Middleware answering what the middleware inside it raise (CSRF parsing a malformed form, ...) as the
    exception handlers would, but here, so the request log and metrics around it see the real status.
    Litestar would answer them too, from outside every user middleware: the client got a 400 while the
    request log had seen no response at all and counted a 500.

    It also ends requests cleanly when the server stops: uvicorn cancels the requests still running after
    its graceful wait (a reply streaming, a client waiting for one). A request that has not answered yet
    gets a 503 `shutting_down`; a stream is closed as complete. Uvicorn would otherwise answer 500 and log
    the CancelledError's traceback. (The reply's text is kept by the reply service, not here.)"""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            started = started or message["type"] == "http.response.start"
            finished = finished or (message["type"] == "http.response.body" and not message.get("more_body"))
            await send(message)

        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
        try:
            await app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            log.info("request cut short: the server is stopping", extra={"path": scope.get("path")})
            if not started:
                stopping = errors.Unavailable("the server is restarting: try again shortly", code="shutting_down")
                await handle_domain_error(request, stopping).to_asgi_response(None, request)(
                    scope, receive, tracking_send
                )
            elif not finished:
                await tracking_send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:
            if started:  # too late for another answer: the connection ends, as it would anyway
                raise
            response = handler_for(exc)(request, exc)
            await response.to_asgi_response(None, request)(scope, receive, tracking_send)

    return middleware


async def send_error(scope: Scope, receive: Receive, send: Send, exc: errors.BostoniaError) -> None:
    """Answer from inside a middleware exactly as the exception handlers would (JSON or an HTML page).

    Middleware that refuses a request (rate limit, CSRF) answers itself instead of raising, so the
    middleware wrapped around it (request log, metrics) still sees the real status code.
    """
    request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
    response = handle_domain_error(request, exc)
    await response.to_asgi_response(None, request)(scope, receive, send)
