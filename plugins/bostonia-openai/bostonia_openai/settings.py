"""`[plugins.openai]`: the OpenAI-compatible servers to use, each with its models and its pool of URLs."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")]


class ProviderSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One server (or a pool of identical servers: `base_urls`) speaking the OpenAI chat completions API."""

    name: Name
    # Where the API lives, ending in /v1 (e.g. "https://api.openai.com/v1", "http://gpu1:8000/v1"). Several
    # URLs make a pool: each request goes to the least busy healthy one.
    base_urls: Annotated[list[str], msgspec.Meta(min_length=1)]
    # The NAME of the environment variable that holds the API key ("" = the server needs none).
    api_key_env: str = ""
    # The server's model ids to offer; empty = ask the server (GET /models) at start-up.
    models: list[str] = msgspec.field(default_factory=list)
    # Bostonia's id for a model is prefix + the server's id ("" = the server's id as it is).
    prefix: str | None = None  # None: "<name>/"
    context_size: Positive = 8192
    # Requests streaming at once to this provider (across its URLs); more wait their turn, users alternating.
    concurrency: Positive = 8
    # Time to connect, and to wait for each piece of a streamed reply.
    timeout_seconds: Seconds = 120.0
    # A URL that failed (refused, timed out, 5xx) rests this long before it is tried again.
    retry_unhealthy_seconds: Seconds = 30.0
    # Send llama.cpp/vLLM's extra sampler fields (top_k, min_p, repeat_penalty) and GBNF grammars. OpenAI's own
    # API refuses unknown fields, so this is off unless the server is llama.cpp, vLLM, Ollama, Bostonia...
    sampler_extras: bool = False
    # How a JSON schema is asked for: OpenAI's structured outputs, the older JSON mode, or not at all.
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"

    @property
    def model_prefix(self) -> str:
        return f"{self.name}/" if self.prefix is None else self.prefix


class OpenAISettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    providers: list[ProviderSettings] = msgspec.field(default_factory=list)
