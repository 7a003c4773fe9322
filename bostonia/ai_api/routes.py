"""The AI APIs: `/api/v1/ai/*` (models, generation, moderation) and the OpenAI-compatible `/v1/*`.

Both take the usual access token or a per-user API key (`Authorization: Bearer ...`). `/v1` errors carry
OpenAI's `type` (and `param`) beside Bostonia's `code`, `message` and `details`.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage, Stream

from bostonia.ai_api.deps import AI
from bostonia.ai_api.schemas import (
    ChatCompletionRequest,
    EmbeddingRequest,
    GenerateRequest,
    GenerateResult,
    ModelCards,
)
from bostonia.ai_api.service import Completion
from bostonia.errors import BostoniaError
from bostonia.http.deps import CurrentUser
from bostonia.http.errors import status_for
from bostonia.moderation.schemas import ModerateText, TextVerdict
from bostonia.orchestration.schemas import ModelList, UsageReport


async def _first_and_rest(completion: Completion) -> tuple[str | None, AsyncIterator[str]]:
    """The first piece now (so a failure before any text is an HTTP error, not a broken stream)."""
    pieces = completion.pieces()
    try:
        return await pieces.__anext__(), pieces
    except StopAsyncIteration:
        return None, pieces


class AIController(Controller):
    path = "/api/v1/ai"
    tags = ["ai"]

    @get("/models")
    async def models(self, user: CurrentUser, ai: AI) -> ModelList:
        """The chat models the caller may use (admins: all): metadata, state (loaded, unloaded, remote,
        cooling), price in micro-units per 1,000 tokens, the default, and the caller's route."""
        return ai.models(user)

    @get("/usage")
    async def my_usage(self, user: CurrentUser, ai: AI, days: FromQuery[int] = 30) -> UsageReport:
        """The caller's own generations (each names its conversation and message: the cost of every reply)
        and their totals per day, in micro-units."""
        return await ai.my_usage(user, days=days)

    @post("/generate", status_code=200)
    async def generate(self, data: JSONBody[GenerateRequest], user: CurrentUser, ai: AI) -> ServerSentEvent:
        """Stream a completion as Server-Sent Events: `token` ({"text"}) per piece, then `done` (model,
        usage, fallbacks) — or `error` ({"code", "message"}) if every model of the route failed mid-way."""
        completion = await ai.generate(user, data)
        first, rest = await _first_and_rest(completion)
        return ServerSentEvent(_generate_events(completion, first, rest))

    @post("/generate/sync", status_code=200)
    async def generate_sync(self, data: JSONBody[GenerateRequest], user: CurrentUser, ai: AI) -> GenerateResult:
        """The same completion, answered whole."""
        return await ai.generate_sync(user, data)

    @post("/moderate", status_code=200)
    async def moderate(self, data: JSONBody[ModerateText], user: CurrentUser, ai: AI) -> TextVerdict:
        """Moderate a text (the moderation capability's verdict: categories, scores, lowest fitting tier)."""
        return await ai.moderate(data)


class AdminAIController(Controller):
    path = "/api/v1/admin/ai"
    tags = ["admin"]

    @get("/usage")
    async def usage(
        self, user: CurrentUser, ai: AI, days: FromQuery[int] = 7, limit: FromQuery[int] = 100
    ) -> UsageReport:
        """Admins: generation costs per model and per user per day (the last `days`), and the latest
        generations one by one with their message, model, tokens, cost and status."""
        return await ai.usage_report(user, days=days, limit=max(1, min(limit, 1000)))


async def _generate_events(
    completion: Completion, first: str | None, rest: AsyncIterator[str]
) -> AsyncIterator[ServerSentEventMessage]:
    def event(name: str, payload: Any) -> ServerSentEventMessage:
        return ServerSentEventMessage(event=name, data=msgspec.json.encode(payload).decode())

    try:
        if first is not None:
            yield event("token", {"text": first})
        async for piece in rest:
            yield event("token", {"text": piece})
    except BostoniaError as exc:
        yield event("error", {"code": exc.code, "message": exc.message})
        return
    yield event("done", {"model": completion.model, "usage": completion.usage, "fallbacks": completion.fallbacks})


class OpenAIController(Controller):
    """OpenAI's chat completions API, for other programs (SillyTavern, the `openai` SDK, scripts)."""

    path = "/v1"
    tags = ["openai"]

    @get("/models")
    async def list_models(self, user: CurrentUser, ai: AI) -> ModelCards:
        """The models the caller may name (plus "auto": the caller's route)."""
        return ai.model_cards(user)

    @post("/chat/completions", status_code=200)
    async def chat_completions(
        self, data: JSONBody[ChatCompletionRequest], user: CurrentUser, ai: AI
    ) -> Response[Any] | Stream:
        """A chat completion, streamed (`stream: true`, usage in a last chunk with
        `stream_options.include_usage`) or whole. With `bostonia: {character_id, conversation_id}` it
        chats *as* that character in the caller's conversation and stores the turn."""
        completion = await ai.chat_completion(user, data)
        if not data.stream:
            text = "".join([piece async for piece in completion.pieces()])
            return Response(_completion_body(completion, text))
        first, rest = await _first_and_rest(completion)
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return Stream(
            _completion_chunks(completion, first, rest, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @post("/embeddings", status_code=200)
    async def embeddings(self, data: JSONBody[EmbeddingRequest], user: CurrentUser, ai: AI) -> dict[str, Any]:
        """Embeddings from the instance's embedding model (the one memory and World Info use)."""
        texts = [data.input] if isinstance(data.input, str) else data.input
        vectors = await ai.embeddings(texts)
        return {
            "object": "list",
            "model": ai.embedding_model,
            "data": [
                {"object": "embedding", "index": i, "embedding": _encoded(v, data.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def _usage_body(completion: Completion) -> dict[str, int]:
    usage = completion.usage
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _extension(completion: Completion) -> dict[str, Any]:
    extra: dict[str, Any] = {"fallbacks": msgspec.to_builtins(completion.fallbacks)}
    if completion.usage is not None:
        extra["cost_micros"] = completion.usage.cost_micros
    return {**extra, **(completion.bostonia or {})}


def _completion_body(completion: Completion, text: str) -> dict[str, Any]:
    text = getattr(completion, "text", None) or text  # as a character: the stored reply (names trimmed)
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": _usage_body(completion),
        "bostonia": _extension(completion),
    }


async def _completion_chunks(
    completion: Completion, first: str | None, rest: AsyncIterator[str], include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created or int(time.time()),
            "model": completion.model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }
        return b"data: " + msgspec.json.encode(body) + b"\n\n"

    def delta(content: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

    yield chunk(delta({"role": "assistant", "content": ""}))
    try:
        if first is not None:
            yield chunk(delta({"content": first}))
        async for piece in rest:
            yield chunk(delta({"content": piece}))
    except BostoniaError as exc:  # every model failed mid-stream: say so in the stream, then end it
        error = {"message": exc.message, "type": "api_error", "code": exc.code, "status": status_for(exc)}
        yield b"data: " + msgspec.json.encode({"error": error}) + b"\n\n"
        yield b"data: [DONE]\n\n"
        return
    yield chunk(delta({}, completion.finish_reason), bostonia=_extension(completion))
    if include_usage:
        yield chunk([], usage=_usage_body(completion))
    yield b"data: [DONE]\n\n"
