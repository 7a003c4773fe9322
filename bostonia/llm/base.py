"""The chat model interface every provider implements (local llama.cpp, cloud plugins, test fakes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

import msgspec

from bostonia.errors import InvalidInput

if TYPE_CHECKING:
    from bostonia.llm.jobs import JobQueue, QueueObserver

Role = Literal["system", "user", "assistant"]
StopString = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ChatMessage(msgspec.Struct, frozen=True):
    role: Role
    content: str


class SamplingParams(msgspec.Struct, kw_only=True, frozen=True):
    max_tokens: int = 300
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    stop: tuple[str, ...] = ()
    seed: int | None = None


class SamplerSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Sampler overrides, every field optional: a character's defaults (`characters.settings`), then a
    conversation's. The names are `SamplingParams` field names."""

    temperature: Annotated[float, msgspec.Meta(ge=0, le=5)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None
    min_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    repeat_penalty: Annotated[float, msgspec.Meta(ge=0, le=5)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=32768)] | None = None
    stop: Annotated[list[StopString], msgspec.Meta(max_length=8)] | None = None
    # Routing choices, not sampler values (`ROUTING_FIELDS`): the model a creator asks for (a character's
    # settings) or the user picked (a chat's), and the chat's creative mode (its own route is tried first).
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    creative: bool | None = None


ROUTING_FIELDS = frozenset({"model", "creative"})


@dataclass
class UsageReport:
    """Exact token counts a provider knows (a cloud API's `usage`): `stream` fills it in when the request
    carries one. Left empty, Bostonia counts the tokens itself (`count_tokens`)."""

    tokens_in: int | None = None
    tokens_out: int | None = None


class ProviderError(Exception):
    """A provider could not serve the request (an HTTP error, a broken stream, a refused key). Any exception
    from `stream` makes the next model of the route take over; these say why, for the logs and the user."""

    reason = "error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds before this model is worth trying again, if known


class PromptTooLong(InvalidInput):
    """The messages are longer than the model's context. The request's own fault, not the model's: the caller
    is told (a 4xx), no other model is tried and this one is not held to have failed."""

    code = "context_length_exceeded"


class ProviderRateLimited(ProviderError):
    reason = "rate_limited"


class ProviderUnavailable(ProviderError):
    reason = "unavailable"


class ProviderTimeout(ProviderError):
    reason = "timeout"


class GenerationRequest(msgspec.Struct, kw_only=True, frozen=True):
    messages: tuple[ChatMessage, ...]
    params: SamplingParams = SamplingParams()
    # Whose conversation this is: models that keep per-conversation state (llama.cpp's KV cache) key it here.
    session: str | None = None
    # Extend the final assistant message instead of starting a new turn ("continue").
    continue_last: bool = False
    # Only process the prompt (warm the cache for a conversation the user just opened); yield nothing.
    prefill_only: bool = False
    # Structured output: the reply must match this JSON schema (models that cannot constrain decoding
    # still receive it and should ask for it in their own way, e.g. a provider's `response_format`).
    json_schema: dict[str, Any] | None = None
    # Or a llama.cpp GBNF grammar, for local models (ignored by providers that have no grammar support).
    grammar: str | None = None
    # Seconds the generation may run once started (None: the server's `[llm] time_limit_seconds`).
    time_limit: float | None = None
    # Where a provider that knows the exact token counts reports them (see `UsageReport`).
    usage: UsageReport | None = None
    # Texts of injected system messages (recalled memories) that the session's next prompt may leave out while
    # keeping everything after them: an engine with a KV cache may then take them out of what it holds (the
    # later messages were read while they were there, which is harmless for remembered facts) instead of
    # reading the rest again.
    droppable: tuple[str, ...] = ()


@runtime_checkable
class ChatModel(Protocol):
    """A model that streams a chat reply.

    `stream` and `count_tokens` are blocking and run on the generation worker thread (or a thread
    pool), never on the event loop. Optional attributes Bostonia reads when present: `provider` (a name
    for usage records, e.g. "openai"; "local" otherwise) and `concurrency` (how many requests it may
    stream at once; 1 otherwise - remote models set more, local ones schedule their own batches).
    """

    model_id: str
    context_size: int

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's vocabulary (an estimate is fine for remote models)."""
        ...

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        """Yield pieces of the reply as they are generated; stop early once `should_stop()` is true."""
        ...


@runtime_checkable
class LoadableModel(ChatModel, Protocol):
    """A model with a costly first use (weights to read): the server loads it in the background at start."""

    def load(self) -> object:
        """Load the weights now (blocking; called off the event loop). Idempotent."""
        ...


@runtime_checkable
class SessionModel(ChatModel, Protocol):
    """A model that keeps per-conversation state (llama.cpp's KV cache), keyed by `GenerationRequest.session`."""

    def forget(self, session: str) -> None:
        """Drop whatever is kept for `session` (its conversation was deleted or rewritten)."""
        ...


@runtime_checkable
class BatchingModel(ChatModel, Protocol):
    """A model that schedules its own work (the local engine: continuous batching over several sequences).
    Its jobs go to the queue it makes instead of a one-at-a-time worker thread."""

    def job_queue(self, observer: QueueObserver) -> JobQueue:
        """The model's queue (one per model, made on first use; cheap: loading happens on its own thread)."""
        ...


@runtime_checkable
class UnloadableModel(LoadableModel, Protocol):
    """A loadable model that can give its memory back (the `[llm] memory_budget_mb` unloads the least
    recently used idle one); the next use loads it again."""

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory now."""
        ...

    def unload(self) -> None:
        """Free the weights and any context (blocking; called off the event loop, never mid-generation)."""
        ...
