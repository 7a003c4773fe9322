"""An OpenAPI document that describes the API as it answers: our error shape, every status a route can really
give, and the content types it really sends.

Litestar documents each route's success response from its return type and one error, its own
`{status_code, detail, extra}` 400, which this server never sends. Every renderer under `/schema`
(`openapi.json`, the viewers) serves the document rewritten from what the route table says about each operation:

- 204 answers have no content (Litestar documents a JSON `null`);
- every error is `{"error": {"code", "message", "details"}}` (`ErrorBody`);
- 400 on every operation (a malformed request: unreadable body or form, bad parameter, JSON nested too
  deep); 413 and 422 where a body or query is read; 401 where a signed-in user is required (and on /auth:
  credentials); 403 where authorisation or CSRF is checked (every unsafe method, every signed-in route);
  404 where a path names a resource, and on signed-in routes (a body or query may name one); 409 on
  signed-in writes (a state conflict); 429 on every rate-limited route; the statuses in `EXTRA_STATUSES`
  where a route has its own (402: credits);
- success content types for the routes that send something other than JSON (`CONTENT_TYPES`).

The route table (method, path, parameters) is read from the app, so a new route is described without
being listed here; tests/test_openapi.py holds every route to its documented responses with schemathesis.
"""

from __future__ import annotations

import copy
import re
from http import HTTPStatus
from typing import Any

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.routes import HTTPRoute

from bostonia.http.ratelimit import is_exempt

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error: a stable machine-readable code, a message for people, optional details. The "
    "OpenAI-compatible API (/v1) adds OpenAI's `type` and `param` beside them.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_error", "not_found", "too_deep"]},
                "message": {"type": "string"},
                "details": {},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}
ERROR_MEANINGS = {
    400: "The request cannot be read: malformed body, form or parameter, or JSON nested too deep (`too_deep`).",
    401: "Authentication required: send a Bearer token (or the session cookie with the CSRF token).",
    402: "Not enough credits, or a plan that does not include this.",
    403: "Not allowed for this user, or the CSRF token is missing (cookie-authenticated writes).",
    404: "No such resource, or not one this user may see.",
    409: "The resource is not in a state that allows this.",
    413: "The body, or one of its free-form fields (`field_too_large`), is over its limit.",
    422: "Well-formed but invalid values (`details.field` names the field).",
    429: "Rate limited: see `Retry-After`.",
}
# Routes with statuses of their own, beyond the rules above: (method, path template) -> statuses.
_REPLY_ROUTES = (
    "/api/v1/conversations/{conversation_id}/messages",
    "/api/v1/conversations/{conversation_id}/trigger",
    "/api/v1/conversations/{conversation_id}/messages/{message_id}/regenerate",
    "/api/v1/conversations/{conversation_id}/messages/{message_id}/continue",
    "/v1/chat/completions",
    "/v1/completions",
    "/api/v1/ai/generate",
)
EXTRA_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    **{("POST", path): (402,) for path in _REPLY_ROUTES},
    ("POST", "/api/v1/payments/webhook"): (404,),  # no payment provider configured
}
AUTH_PREFIX = "/api/v1/auth/"
SSE = "text/event-stream"
JSON = "application/json"
# One server-sent event: `event` is the protocol's event name (bostonia.chat.events), `data` its JSON payload.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
}
# Success responses that are not (only) JSON: (method, path template) -> media types of the success status.
CONTENT_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/metrics"): ("text/plain",),
    # Replies: JSON once done, or the stream with `Accept: text/event-stream`.
    **{("POST", path): (JSON, SSE) for path in _REPLY_ROUTES[:4]},
    ("POST", "/v1/chat/completions"): (JSON, SSE),
    ("POST", "/v1/completions"): (JSON, SSE),
    ("POST", "/api/v1/ai/generate"): (SSE,),
    ("GET", "/api/v1/conversations/{conversation_id}/messages/{message_id}/stream"): (SSE,),
    # Downloads: the format the query asks for.
    ("GET", "/api/v1/conversations/{conversation_id}/export"): ("application/jsonl", "text/plain", JSON),
    ("GET", "/api/v1/characters/{character_id}/export"): ("image/png", JSON, "application/zip"),
}
# Answers that are not errors of a request: /ready's 503 is its own report (`status`: unavailable or warming).
OWN_RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/ready"): {
        "503": {
            "description": "Not ready yet: the database, a migration, or a model loading at start-up (`warming`).",
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"enum": ["unavailable", "warming"]}},
                    }
                }
            },
        }
    }
}
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def operation_facts(app: Any) -> dict[tuple[str, str], dict[str, bool]]:
    """(method, OpenAPI path) -> what the handler reads: a signed-in user, a body, its query parameters."""
    facts: dict[tuple[str, str], dict[str, bool]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            parameters = handler.parsed_fn_signature.parameters
            for method in handler.http_methods:
                facts[(method, route.path_format or "/")] = {
                    "user": "user" in parameters,
                    "body": bool({"data", "request"} & parameters.keys()) or method in UNSAFE,
                }
    return facts


def _response(status: int, content: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_MEANINGS.get(status) or HTTPStatus(status).phrase}
    if content is not None:
        response["content"] = content
    return response


def error_statuses(method: str, path: str, facts: dict[str, bool], operation: dict[str, Any]) -> set[int]:
    queries = any(p.get("in") == "query" for p in operation.get("parameters", []))
    statuses = {400}
    if facts.get("body") or queries:
        statuses |= {413, 422} if facts.get("body") else {422}
    if facts.get("user"):
        statuses |= {401, 403, 404}  # 404: the path's resource, or one the body or query names
        if method in UNSAFE:
            statuses.add(409)
    if path.startswith(AUTH_PREFIX):
        statuses.add(401)  # wrong credentials, an expired refresh token or reset link
    if method in UNSAFE:
        statuses.add(403)  # CSRF, for a cookie-authenticated caller
    if _PATH_PARAMETER.search(path):
        statuses.add(404)
    if not is_exempt(path):
        statuses.add(429)
    statuses.update(EXTRA_STATUSES.get((method, path), ()))
    return statuses


def honest_schema(schema: dict[str, Any], facts: dict[tuple[str, str], dict[str, bool]]) -> dict[str, Any]:
    """A copy of Litestar's document with our errors and content types (see the module docstring)."""
    document = copy.deepcopy(schema)
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY_SCHEMA
    error_content = {JSON: {"schema": ERROR_REF}}
    for path, item in document.get("paths", {}).items():
        for method_name, operation in item.items():
            method = method_name.upper()
            if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for documented in [s for s in responses if s.isdigit() and int(s) >= 400]:
                del responses[documented]  # Litestar's own error shape, never sent
            for error in sorted(error_statuses(method, path, facts.get((method, path), {}), operation)):
                responses[str(error)] = _response(error, error_content)
            responses.update(copy.deepcopy(OWN_RESPONSES.get((method, path), {})))
            for status, response in responses.items():
                if status == "204":
                    response.pop("content", None)  # nothing follows, not a JSON null
            media_types = CONTENT_TYPES.get((method, path))
            if media_types:
                for status, response in responses.items():
                    if status.isdigit() and 200 <= int(status) < 300 and response.get("content"):
                        schema_of = next(iter(response["content"].values())).get("schema", {})
                        response["content"] = {
                            media: {"schema": _schema_for(media, schema_of)} for media in media_types
                        }
    return document


def _schema_for(media: str, json_schema: dict[str, Any]) -> dict[str, Any]:
    if media == JSON:
        return json_schema
    return SSE_EVENT_SCHEMA if media == SSE else {"type": "string"}


class HonestRender(OpenAPIRenderPlugin):
    """One of Litestar's renderers (JSON, YAML, the viewers), given the rewritten document instead."""

    def __init__(self, inner: OpenAPIRenderPlugin, rewritten: dict[str, Any]) -> None:
        super().__init__(path=inner.paths, media_type=inner.media_type)
        self.inner = inner
        self.rewritten = rewritten  # shared by an app's renderers: the rewrite runs once

    def document(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> dict[str, Any]:
        if "document" not in self.rewritten:
            self.rewritten["document"] = honest_schema(openapi_schema, operation_facts(request.app))
        document: dict[str, Any] = self.rewritten["document"]
        return document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.inner.render(request, self.document(request, openapi_schema))

    def receive_router(self, router: Router) -> None:
        self.inner.receive_router(router)


def openapi_config(*, title: str, version: str, path: str) -> OpenAPIConfig:
    """Litestar's OpenAPI config (every renderer it offers), each renderer serving the rewritten document."""
    config = OpenAPIConfig(title=title, version=version, path=path)
    rewritten: dict[str, Any] = {}
    wrapped = {id(plugin): HonestRender(plugin, rewritten) for plugin in config.render_plugins}
    config.render_plugins = list(wrapped.values())
    if config.default_plugin is not None:
        config.default_plugin = wrapped[id(config.default_plugin)]
    return config
