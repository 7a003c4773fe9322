"""A chat model served by an OpenAI-compatible server: `POST {base_url}/chat/completions`, streamed (SSE).

`stream` runs on one of Bostonia's generation worker threads (the model's `concurrency` of them), so it
uses a blocking httpx client shared by the provider's models. A URL that cannot be reached or answers
5xx before the reply starts is marked unhealthy and the next URL of the pool serves the request; once
text has streamed, a failure ends the reply with `ProviderUnavailable` and Bostonia's fallback (the next
model of the route) continues it. A 429 is `ProviderRateLimited` with the server's `Retry-After`.
The API key goes in the `Authorization` header only; it is never part of an error message or a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from bostonia.plugin_api import (
    GenerationRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from bostonia_openai.pool import Backend, BackendPool
from bostonia_openai.settings import ProviderSettings

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4  # the usual estimate when the server's tokenizer is out of reach
MAX_STOP = 4  # OpenAI's limit on stop sequences


def make_client(provider: ProviderSettings, api_key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    connections = provider.concurrency * len(provider.base_urls) + 4
    return httpx.Client(
        headers=headers,
        timeout=httpx.Timeout(provider.timeout_seconds, connect=min(10.0, provider.timeout_seconds)),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def discover(provider: ProviderSettings, client: httpx.Client, pool: BackendPool) -> list[str]:
    """The server's model ids (`GET /models`), from the first URL of the pool that answers."""
    for backend in pool.backends:
        try:
            response = client.get(f"{backend.url}/models", timeout=10.0)
            response.raise_for_status()
            return [str(item["id"]) for item in response.json().get("data", []) if item.get("id")]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("could not list the models of %s at %s: %s", provider.name, backend.url, type(exc).__name__)
    return []


def _error_text(response: httpx.Response) -> str:
    try:
        response.read()
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
        return str(message or body)[:200]
    except (ValueError, AttributeError, httpx.HTTPError):
        return response.text[:200] if response.is_stream_consumed else ""


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


class OpenAICompatibleModel:
    def __init__(self, provider: ProviderSettings, remote_id: str, pool: BackendPool, client: httpx.Client) -> None:
        self.settings = provider
        self.remote_id = remote_id
        self.model_id = provider.model_prefix + remote_id
        self.context_size = provider.context_size
        self.concurrency = provider.concurrency  # Bostonia runs this many requests at once
        self.provider = provider.name  # for usage records
        self.pool = pool
        self._client = client

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.model_id!r})"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // CHARS_PER_TOKEN) if text else 0

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.remote_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)[:MAX_STOP]
        if params.seed is not None:
            body["seed"] = params.seed
        if self.settings.sampler_extras:
            body |= {"top_k": params.top_k, "min_p": params.min_p, "repeat_penalty": params.repeat_penalty}
            if request.grammar is not None and request.json_schema is None:
                body["grammar"] = request.grammar
        if request.json_schema is not None and self.settings.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema},
            }
        elif request.json_schema is not None and self.settings.json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        if request.prefill_only:
            return  # a warm-up: a remote server keeps (or not) its own cache; there is nothing to send
        body = self.body(request)
        tried: set[str] = set()
        while True:
            backend = self.pool.acquire(exclude=tried)  # ProviderUnavailable when none is left
            progress = {"streamed": False}
            ok = False
            try:
                yield from self._stream_from(backend, body, request, should_stop, progress)
                ok = True
                return
            except _TryAnother:
                tried.add(backend.url)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
                self.pool.mark_unhealthy(backend, reason)
                if progress["streamed"]:
                    raise ProviderUnavailable(f"the stream from {backend.url} broke ({reason})") from None
                tried.add(backend.url)
            finally:
                self.pool.release(backend, ok=ok)

    def _stream_from(
        self,
        backend: Backend,
        body: dict[str, Any],
        request: GenerationRequest,
        should_stop: Callable[[], bool],
        progress: dict[str, bool],
    ) -> Iterator[str]:
        with self._client.stream("POST", f"{backend.url}/chat/completions", json=body) as response:
            status = response.status_code
            if status == 429:
                message = f"{backend.url} is rate limiting: {_error_text(response)}"
                raise ProviderRateLimited(message, retry_after=_retry_after(response))
            if status >= 500:
                self.pool.mark_unhealthy(backend, f"HTTP {status}")
                raise _TryAnother
            if status in (401, 403):
                raise ProviderError(f"{backend.url} refused the API key (HTTP {status})")
            if status != 200:
                raise ProviderError(f"{backend.url} refused the request (HTTP {status}): {_error_text(response)}")
            for line in response.iter_lines():
                if should_stop():
                    return
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                if chunk.get("error"):
                    error = chunk["error"]
                    said = error.get("message") if isinstance(error, dict) else error
                    raise ProviderUnavailable(f"{backend.url} failed mid-reply: {str(said)[:200]}")
                usage = chunk.get("usage")
                if isinstance(usage, dict) and request.usage is not None:
                    request.usage.tokens_in = usage.get("prompt_tokens")
                    request.usage.tokens_out = usage.get("completion_tokens")
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        progress["streamed"] = True
                        yield content


class _TryAnother(Exception):
    """This URL failed before the reply started: the pool's next one serves the request."""
