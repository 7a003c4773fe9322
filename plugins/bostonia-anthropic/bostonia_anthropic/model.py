"""A Claude model: Bostonia's chat as a Messages API request, its reply streamed back piece by piece.

The Messages API wants the system text apart and the turns alternating, starting with the user; a last
assistant turn is a prefill the model continues (what "continue" and a mid-reply fallback need). Errors
become the plugin API's provider errors, so Bostonia falls back to the next model of the route: rate
limits (with the server's Retry-After), overload and connection failures, a refused key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic

from bostonia.plugin_api import (
    ChatMessage,
    GenerationRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

CHARS_PER_TOKEN = 4
MAX_TEMPERATURE = 1.0  # the Messages API's range is 0..1


def make_client(api_key: str, base_url: str | None, timeout: float) -> anthropic.Anthropic:
    # Retries are Bostonia's business (the next model of the route), not the SDK's.
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


def messages_api_shape(
    messages: tuple[ChatMessage, ...], json_schema: dict[str, Any] | None
) -> tuple[str, list[dict[str, str]]]:
    """(system text, alternating turns starting with the user) from Bostonia's chat."""
    system = [m.content for m in messages if m.role == "system"]
    if json_schema is not None:
        system.append("Reply with only a JSON document that matches this JSON schema:\n" + json.dumps(json_schema))
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system" or not message.content:
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(The conversation begins.)"})
    if turns[-1]["role"] == "assistant":
        turns[-1]["content"] = turns[-1]["content"].rstrip()  # a prefill may not end in whitespace
    return "\n\n".join(system), turns


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except (ValueError, AttributeError):
        return None


class ClaudeModel:
    def __init__(
        self, remote_id: str, client: anthropic.Anthropic, *, model_id: str, context_size: int, concurrency: int
    ) -> None:
        self.remote_id = remote_id
        self.model_id = model_id
        self.context_size = context_size
        self.concurrency = concurrency
        self.provider = "anthropic"
        self._client = client

    def __repr__(self) -> str:
        return f"ClaudeModel({self.model_id!r})"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // CHARS_PER_TOKEN) if text else 0

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        if request.prefill_only:
            return
        params = request.params
        system, turns = messages_api_shape(request.messages, request.json_schema)
        # Sampler fields go in the body as is: SDK releases differ in which of them `stream()` names.
        sampling: dict[str, Any] = {"temperature": min(params.temperature, MAX_TEMPERATURE)}
        if params.top_k:
            sampling["top_k"] = params.top_k
        options: dict[str, Any] = {
            "model": self.remote_id,
            "max_tokens": params.max_tokens,
            "messages": turns,
            "extra_body": sampling,
        }
        if system:
            options["system"] = system
        if params.stop:
            options["stop_sequences"] = [s for s in params.stop if s.strip()]
        try:
            with self._client.messages.stream(**options) as stream:
                for text in stream.text_stream:
                    if should_stop():
                        return
                    if text:
                        yield text
                usage = stream.get_final_message().usage
                if request.usage is not None:
                    request.usage.tokens_in = usage.input_tokens
                    request.usage.tokens_out = usage.output_tokens
        except anthropic.RateLimitError as exc:
            raise ProviderRateLimited(
                f"Anthropic is rate limiting ({exc.status_code})", retry_after=_retry_after(exc)
            ) from None
        except anthropic.APITimeoutError:
            raise ProviderTimeout("Anthropic did not answer in time") from None
        except anthropic.APIConnectionError as exc:
            raise ProviderUnavailable(f"cannot reach Anthropic ({type(exc).__name__})") from None
        except anthropic.AuthenticationError:
            raise ProviderError("Anthropic refused the API key") from None
        except anthropic.APIStatusError as exc:
            overloaded = exc.status_code >= 500 or "overloaded" in str(exc).lower()
            error = ProviderUnavailable if overloaded else ProviderError
            when = "mid-reply" if exc.status_code == 200 else f"with {exc.status_code}"  # an SSE error event
            raise error(f"Anthropic failed {when}: {_message_of(exc)}") from None


def _message_of(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    said = error.get("message") if isinstance(error, dict) else None
    return str(said or exc.message)[:200]
