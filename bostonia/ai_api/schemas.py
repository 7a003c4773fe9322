"""Request and answer shapes of the AI APIs: Bostonia's own (`/api/v1/ai`) and the OpenAI-compatible `/v1`.

The OpenAI shapes accept the fields OpenAI clients send and Bostonia ignores (`frequency_penalty`,
`logit_bias`, `tools`, ...): unknown fields are dropped, not refused, so SillyTavern and friends just work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Temperature = Annotated[float, msgspec.Meta(ge=0, le=5)]
TopP = Annotated[float, msgspec.Meta(ge=0, le=1)]
MaxTokens = Annotated[int, msgspec.Meta(ge=1, le=32768)]
Stop = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ModelName = Annotated[str, msgspec.Meta(max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

# -- /api/v1/ai --------------------------------------------------------------------------------------


class PromptMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, msgspec.Meta(max_length=200_000)]


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`messages`, or `prompt` (one user message) with an optional `system` text."""

    messages: Annotated[list[PromptMessage], msgspec.Meta(max_length=500)] | None = None
    prompt: Annotated[str, msgspec.Meta(max_length=200_000)] | None = None
    system: Annotated[str, msgspec.Meta(max_length=50_000)] | None = None
    # A model id (it goes first, the caller's route after it, for fallback); none: the caller's route.
    model: ModelName | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stop: Annotated[list[Stop], msgspec.Meta(max_length=8)] | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = None  # the reply must match it (local models: by grammar)


class GenerationUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int


class FallbackInfo(msgspec.Struct, kw_only=True):
    from_model: str
    to_model: str
    reason: str
    notice: str


class GenerateResult(msgspec.Struct, kw_only=True):
    text: str
    model: str
    usage: GenerationUsage
    fallbacks: list[FallbackInfo]


# -- OpenAI-compatible /v1 ------------------------------------------------------------------------------


class ContentPart(msgspec.Struct, kw_only=True):
    type: str
    text: str | None = None


class OpenAIMessage(msgspec.Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class JSONSchemaFormat(msgspec.Struct, kw_only=True):
    name: str = "response"
    schema: dict[str, Any] = msgspec.field(default_factory=dict)
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(msgspec.Struct, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class BostoniaChat(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Chat *as* a Bostonia character: the card, persona, lore and memory apply, and the turn is stored.
    `conversation_id` continues one of the caller's chats; `character_id` alone starts a new one."""

    character_id: Id | None = None
    conversation_id: Id | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: ModelName = ""
    messages: Annotated[list[OpenAIMessage], msgspec.Meta(min_length=1, max_length=1000)]
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    stop: Stop | Annotated[list[Stop], msgspec.Meta(max_length=8)] | None = None
    seed: int | None = None
    # llama.cpp's and vLLM's extra sampler fields (SillyTavern and Bostonia's own provider plugin send them).
    top_k: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None
    min_p: TopP | None = None
    repeat_penalty: Annotated[float, msgspec.Meta(ge=0, le=5)] | None = None
    repetition_penalty: Annotated[float, msgspec.Meta(ge=0, le=5)] | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    # OpenAI's end-user tag, accepted and ignored. Named apart (and typed Any, so it can never fail
    # validation): a body field called like the `user` dependency would turn its errors into 500s.
    end_user: Any = msgspec.field(default=None, name="user")
    bostonia: BostoniaChat | None = None


class ModelCard(msgspec.Struct, kw_only=True):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "bostonia"


class ModelCards(msgspec.Struct, kw_only=True):
    data: list[ModelCard]
    object: str = "list"


class EmbeddingRequest(msgspec.Struct, kw_only=True):
    input: str | Annotated[list[str], msgspec.Meta(max_length=2048)]
    model: ModelName = ""
    encoding_format: Literal["float", "base64"] = "float"  # base64: little-endian float32, as OpenAI sends
