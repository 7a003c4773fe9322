"""Generation for programs: Bostonia's `/api/v1/ai` and the OpenAI-compatible `/v1`.

Two kinds of completion, one shape (`Completion`: text pieces, then the model that served and the usage):

- **raw** — the caller's messages go to a model as they are, along a route: the model the caller names
  first (it must be one their plan may pick), then their tier's route for fallback. Rate-limited like
  every request, and cost-accounted (`ai_usage`, source `api`/`generate`) through the orchestrator.
- **as a character** (the OpenAI request's `bostonia` field) — the last user message is sent in one of
  the caller's conversations (a new one with `character_id` alone), exactly as the chat UI sends it: the
  card, persona, lore and memory apply, moderation checks it, and both turns are stored. The sampler
  settings are the character's and the conversation's; the request's are ignored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import msgspec

from bostonia.ai_api.schemas import (
    BostoniaChat,
    ChatCompletionRequest,
    FallbackInfo,
    GenerateRequest,
    GenerateResult,
    GenerationUsage,
    ModelCard,
    ModelCards,
    OpenAIMessage,
)
from bostonia.chat import events
from bostonia.chat.replies import ReplyService
from bostonia.chat.service import ChatService
from bostonia.chat.streams import ReplyStream
from bostonia.chat.turn_taking import Pending, takes_turns
from bostonia.config import LLMConfig
from bostonia.db.values import new_id, utc_in
from bostonia.embeddings import Embedder, HashingEmbedder
from bostonia.errors import BostoniaError, Conflict, InvalidInput, NotFound, NotSupported, PermissionDenied
from bostonia.identity import Actor, User, require_admin
from bostonia.llm.base import ChatMessage, ChatModel, GenerationRequest, SamplingParams
from bostonia.moderation.schemas import ModerateText, TextVerdict
from bostonia.moderation.service import ModerationService
from bostonia.orchestration.accounting import UsageSource
from bostonia.orchestration.catalog import ModelCatalog
from bostonia.orchestration.routing import ModelRouter
from bostonia.orchestration.schemas import ModelInfo, ModelList, UsageReport
from bostonia.orchestration.service import Fallback, Orchestrator, RoutedGeneration
from bostonia.orchestration.store import UsageStore

MAX_EMBEDDING_CHARS = 20_000  # the model reads 256 word pieces anyway; longer input is refused, not cut
# Names a client may use for "whatever my plan's route says" instead of a model id.
ROUTE_ALIASES = frozenset({"", "auto", "default", "bostonia"})


class Completion:
    """A completion in progress: iterate `pieces()`; afterwards `model`, `usage` and `finish_reason` hold."""

    id: str
    created: int
    model: str
    usage: GenerationUsage | None = None
    finish_reason: str = "stop"
    fallbacks: list[FallbackInfo]
    bostonia: dict[str, Any] | None = None  # the stored turn's ids, in character mode

    def pieces(self) -> AsyncIterator[str]:
        raise NotImplementedError


def _usage(tokens_in: int, tokens_out: int, cost: int) -> GenerationUsage:
    return GenerationUsage(
        prompt_tokens=tokens_in, completion_tokens=tokens_out, total_tokens=tokens_in + tokens_out, cost_micros=cost
    )


def _fallback_info(fallback: Fallback) -> FallbackInfo:
    return FallbackInfo(
        from_model=fallback.from_model, to_model=fallback.to_model, reason=fallback.reason, notice=fallback.notice
    )


class RawCompletion(Completion):
    def __init__(self, run: RoutedGeneration, max_tokens: int) -> None:
        self.id = f"chatcmpl-{new_id().replace('-', '')}"
        self.created = int(time.time())
        self.run = run
        self.model = run.route[0].model_id
        self.max_tokens = max_tokens
        self.fallbacks = []

    async def pieces(self) -> AsyncIterator[str]:
        try:
            async for piece in self.run:
                yield piece
        finally:
            self.model = self.run.model.model_id
        usage = self.run.usage
        if usage is not None:
            self.usage = _usage(usage.tokens_in, usage.tokens_out, usage.cost_micros)
            self.finish_reason = "length" if usage.tokens_out >= self.max_tokens else "stop"
            await self.run.charge()
        self.fallbacks = [_fallback_info(f) for f in self.run.fallbacks]


class CharacterCompletion(Completion):
    def __init__(self, reply: ReplyStream, usage: UsageStore, character_id: str) -> None:
        self.id = f"chatcmpl-{reply.message_id.replace('-', '')}"
        self.created = int(time.time())
        self.reply = reply
        self.usage_store = usage
        self.model = ""
        self.fallbacks = []
        self.text = ""
        self.bostonia = {
            "character_id": character_id,
            "conversation_id": reply.conversation_id,
            "message_id": reply.message_id,
            "user_message_id": reply.user_message.id if reply.user_message else None,
        }

    async def pieces(self) -> AsyncIterator[str]:
        async for event in self.reply.stream():
            data = event.data
            if event.event == events.STREAM_CHUNK and isinstance(data, events.StreamChunk):
                self.text += data.content
                yield data.content
            elif event.event == events.STREAM_FALLBACK and isinstance(data, events.StreamFallback):
                self.fallbacks.append(
                    FallbackInfo(
                        from_model=data.from_model, to_model=data.to_model, reason=data.reason, notice=data.notice
                    )
                )
            elif event.event == events.ERROR and isinstance(data, events.ErrorNotice):
                raise BostoniaError(data.message, code=data.code)
        message = await self.reply.result()
        self.text = message.content
        self.model = message.model_used or ""
        served = [u for u in await self.usage_store.for_message(message.id) if u.status == "ok"]
        if served:
            last = served[-1]
            self.usage = _usage(last.tokens_in, last.tokens_out, last.cost_micros)


class AIService:
    def __init__(
        self,
        orchestrator: Orchestrator,
        router: ModelRouter,
        catalog: ModelCatalog,
        replies: ReplyService,
        chat: ChatService,
        moderation: ModerationService,
        usage: UsageStore,
        config: LLMConfig,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.orchestrator = orchestrator
        self.router = router
        self.catalog = catalog
        self.replies = replies
        self.chat = chat
        self.moderation = moderation
        self.usage = usage
        self.config = config
        self.embedder = embedder  # the instance's embedding model (memory's); None: /v1/embeddings is 501

    # -- models ---------------------------------------------------------------------------------------

    def models(self, user: User) -> ModelList:
        """The models the caller may pick (admins: all), with their state and price, and the caller's route."""
        listing = self.catalog.listing(None if user.role == "admin" else user.tier)
        return msgspec.structs.replace(listing, route=self.router.route_ids(user.tier))

    def model_cards(self, user: User) -> ModelCards:
        return ModelCards(
            data=[ModelCard(id=model_id, owned_by="bostonia") for model_id in self.router.pickable(user.tier)]
        )

    def route_for(self, user: User, model: str | None) -> list[ChatModel]:
        """The named model first (if the caller may pick it), then the caller's route for fallback."""
        if model is None or model.strip().lower() in ROUTE_ALIASES:
            return self.router.route(user.tier)
        if model not in self.router.registry:
            raise NotFound(f"the model {model!r} does not exist", code="model_not_found")
        if not self.router.may_pick(user.tier, model):
            raise PermissionDenied(
                f"the model {model!r} needs the {self.router.min_tier(model)} plan", code="model_not_allowed"
            )
        return self.router.resolve([model, *self.router.route_ids(user.tier)])

    async def usage_report(
        self, actor: Actor, *, days: int = 7, limit: int = 100, reveal_chats: bool = False
    ) -> UsageReport:
        """Admins: what generations cost, per model and per user per day since `days` ago, and the latest
        generations one by one. Which conversation and message each was for stays hidden unless
        `reveal_chats` (`[privacy] admin_can_read_chats`): conversations are their owners'."""
        require_admin(actor)
        since = _days_ago(days)
        recent = await self.usage.recent(limit=limit)
        if not reveal_chats:
            recent = [msgspec.structs.replace(u, conversation_id=None, message_id=None) for u in recent]
        return UsageReport(
            days=days,
            per_model=await self.usage.per_model(since=since),
            per_user_day=await self.usage.per_user_day(since=since),
            recent=recent,
        )

    async def my_usage(self, user: User, *, days: int = 30, limit: int = 100) -> UsageReport:
        """The caller's own generations (each with its conversation and message) and daily totals."""
        since = _days_ago(days)
        return UsageReport(
            days=days,
            per_model=[],
            per_user_day=await self.usage.per_user_day(since=since, user_id=user.id),
            recent=await self.usage.recent(limit=limit, user_id=user.id),
        )

    def all_models(self, actor: Actor) -> list[ModelInfo]:
        require_admin(actor)
        return self.catalog.models()

    # -- raw generation ---------------------------------------------------------------------------------

    async def start_raw(
        self,
        user: User,
        messages: Sequence[ChatMessage],
        *,
        model: str | None,
        source: UsageSource,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        json_schema: dict[str, Any] | None = None,
        top_k: int | None = None,
        min_p: float | None = None,
        repeat_penalty: float | None = None,
    ) -> RawCompletion:
        route = self.route_for(user, model)
        first = route[0]
        config = self.config
        limit = max_tokens or config.max_tokens
        params = SamplingParams(
            max_tokens=limit,
            temperature=config.temperature if temperature is None else temperature,
            top_p=config.top_p if top_p is None else top_p,
            top_k=config.top_k if top_k is None else top_k,
            min_p=config.min_p if min_p is None else min_p,
            repeat_penalty=config.repeat_penalty if repeat_penalty is None else repeat_penalty,
            stop=tuple(stop),
            seed=seed,
        )
        async with self.orchestrator.using(first):  # loads it within the memory budget to count tokens
            prompt_tokens = await asyncio.to_thread(lambda: sum(first.count_tokens(m.content) for m in messages))
        if prompt_tokens + limit > first.context_size:
            raise InvalidInput(
                f"the prompt ({prompt_tokens} tokens) and max_tokens ({limit}) exceed the"
                f" {first.context_size}-token context of {first.model_id}",
                code="context_length_exceeded",
            )
        # A last assistant message is a prefill: the reply continues it (how a fallback hands over mid-reply).
        prefill = messages[-1].role == "assistant"
        request = GenerationRequest(
            messages=tuple(messages), params=params, json_schema=json_schema, continue_last=prefill
        )
        run = self.orchestrator.start(user, route, request, source=source)
        return RawCompletion(run, limit)

    async def generate(self, user: User, data: GenerateRequest) -> RawCompletion:
        """`POST /api/v1/ai/generate`: `messages`, or `prompt` (+ `system`)."""
        if data.messages is not None and data.prompt is not None:
            raise InvalidInput("send either messages or prompt, not both")
        messages = [ChatMessage(m.role, m.content) for m in data.messages or []]
        if data.prompt is not None:
            messages = [
                *([ChatMessage("system", data.system)] if data.system else []),
                ChatMessage("user", data.prompt),
            ]
        if not messages:
            raise InvalidInput("nothing to answer: send messages or a prompt", details={"field": "messages"})
        return await self.start_raw(
            user,
            messages,
            model=data.model,
            source="generate",
            max_tokens=data.max_tokens,
            temperature=data.temperature,
            top_p=data.top_p,
            stop=data.stop or (),
            seed=data.seed,
            json_schema=data.json_schema,
        )

    async def generate_sync(self, user: User, data: GenerateRequest) -> GenerateResult:
        completion = await self.generate(user, data)
        text = "".join([piece async for piece in completion.pieces()])
        return GenerateResult(
            text=text,
            model=completion.model,
            usage=completion.usage or _usage(0, 0, 0),
            fallbacks=completion.fallbacks,
        )

    async def moderate(self, data: ModerateText) -> TextVerdict:
        """`POST /api/v1/ai/moderate`: the moderation capability's verdict on a text."""
        return await self.moderation.moderate_text(data)

    # -- the OpenAI-compatible API -------------------------------------------------------------------------

    async def chat_completion(self, user: User, data: ChatCompletionRequest) -> Completion:
        if data.n != 1:
            raise InvalidInput("only n=1 is supported", details={"field": "n"})
        if data.bostonia is not None:
            return await self._as_character(user, data.bostonia, data.messages)
        stop = [data.stop] if isinstance(data.stop, str) else list(data.stop or [])
        return await self.start_raw(
            user,
            [to_chat_message(m) for m in data.messages],
            model=data.model,
            source="api",
            max_tokens=data.max_completion_tokens or data.max_tokens,
            temperature=data.temperature,
            top_p=data.top_p,
            stop=stop,
            seed=data.seed,
            json_schema=json_schema_of(data),
            top_k=data.top_k,
            min_p=data.min_p,
            repeat_penalty=data.repeat_penalty if data.repeat_penalty is not None else data.repetition_penalty,
        )

    async def _as_character(self, user: User, target: BostoniaChat, messages: list[OpenAIMessage]) -> Completion:
        said = next((m for m in reversed(messages) if m.role == "user"), None)
        content = text_of(said) if said else ""
        if not content.strip():
            raise InvalidInput("chatting as a character needs a user message to send", details={"field": "messages"})
        if target.conversation_id:
            conversation = await self.chat.get_conversation(user, target.conversation_id)
            if target.character_id and target.character_id != conversation.character_id:
                raise InvalidInput("that conversation is with another character", details={"field": "bostonia"})
        elif target.character_id:
            conversation = await self.chat.start_conversation(user, target.character_id)
        else:
            raise InvalidInput("bostonia needs a character_id or a conversation_id", details={"field": "bostonia"})
        if takes_turns(conversation):  # its replies are turns, queued among several speakers: not one answer
            raise InvalidInput(
                "group chats and shared rooms are not served through this API; use /api/v1/conversations",
                code="takes_turns",
                details={"field": "bostonia"},
            )
        model = await self.replies.prompt_model(user, conversation.id)
        reply = await self.replies.send(user, conversation.id, content)
        if isinstance(reply, Pending):  # e.g. an out-of-character line: stored, and nobody answers it
            raise Conflict("that message starts no reply (it was out of character)", code="no_reply")
        completion = CharacterCompletion(reply, self.usage, conversation.character_id)
        completion.model = model  # until the reply says which model served it
        return completion

    @property
    def embedding_model(self) -> str:
        return "hashing" if isinstance(self.embedder, HashingEmbedder) else "all-MiniLM-L6-v2"

    async def embeddings(self, texts: list[str]) -> list[list[float]]:
        """The instance's embedding model on `texts` (normalised vectors), off the event loop."""
        if self.embedder is None:
            raise NotSupported("this server has no embedding model", code="embeddings_unavailable")
        if any(len(text) > MAX_EMBEDDING_CHARS for text in texts):
            raise InvalidInput(f"each input is at most {MAX_EMBEDDING_CHARS} characters", details={"field": "input"})
        vectors = await asyncio.to_thread(self.embedder.embed, texts)
        return [[float(x) for x in row] for row in vectors]


def _days_ago(days: int) -> str:
    return utc_in(-timedelta(days=max(1, min(days, 366))))


def text_of(message: OpenAIMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for part in message.content:
        if part.type != "text":
            raise InvalidInput(f"only text content is supported, not {part.type!r}", details={"field": "messages"})
        parts.append(part.text or "")
    return "\n".join(parts)


def to_chat_message(message: OpenAIMessage) -> ChatMessage:
    role = {"developer": "system", "tool": "user"}.get(message.role, message.role)
    return ChatMessage(role, text_of(message))  # type: ignore[arg-type]  # mapped onto Role above


def json_schema_of(data: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = data.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None or not fmt.json_schema.schema:
        raise InvalidInput("response_format json_schema needs a schema", details={"field": "response_format"})
    return fmt.json_schema.schema
