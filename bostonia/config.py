"""Instance configuration: `bostonia.toml` parsed into typed Structs, overridable by env vars.

Every key can be overridden by `BOSTONIA_<SECTION>_<KEY>` (e.g. `BOSTONIA_SERVER_PORT=9000`); top-level
keys by `BOSTONIA_<KEY>` (e.g. `BOSTONIA_DATA_DIR`). Unknown keys, in the file or the environment, are
errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from bostonia.errors import ConfigError

CONFIG_ENV = "BOSTONIA_CONFIG"
ENV_PREFIX = "BOSTONIA_"
PLUGINS_ENV = "BOSTONIA_PLUGINS"  # a comma-separated list: the plugins to enable
# Environment variables that share the prefix but are not configuration keys.
NON_CONFIG_ENV = frozenset({CONFIG_ENV, PLUGINS_ENV, "BOSTONIA_LOAD_PLUGINS"})
# Core sections that became plugin tables: still read (with a warning) for one release.
MOVED_TO_PLUGINS = {"oidc": "oidc"}

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 8420
    # Largest request body accepted, in bytes (card uploads are the largest legitimate bodies).
    max_body_bytes: Positive = 20 * 1024 * 1024
    # The address users reach this server at (e.g. "https://chat.example.org"), used in emailed links and
    # OAuth redirect URIs. Empty: derived from each request (and http://host:port in the CLI).
    public_url: str = ""


class DatabaseConfig(_Section):
    # Relative paths are inside the data dir.
    path: str = "bostonia.db"
    read_connections: Positive = 4
    busy_timeout_ms: Positive = 5000


class LLMConfig(_Section):
    # A model id: the file stem of a GGUF in `models_dir` or of the bundled default.
    default_model: str = "SmolLM2-135M-Instruct.Q4_1"
    # Relative paths are resolved against the working directory.
    models_dir: str = "models"
    context_size: Positive = 4096
    # 0 = one thread per CPU core.
    threads: Annotated[int, msgspec.Meta(ge=0)] = 0
    batch_size: Positive = 512
    # Conversations the local engine serves at once: sequence slots in one context (KV memory for
    # `parallel * context_size` tokens). See bostonia.toml for how to choose it.
    parallel: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    # Prompt tokens read per step, beside one token for each reply streaming (chunked prefill).
    prefill_chunk: Annotated[int, msgspec.Meta(ge=8, le=8192)] = 32
    # A generation running longer than this is cut (a runaway reply never holds a slot forever).
    time_limit_seconds: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # When a long chat's oldest messages leave the prompt, drop them from the KV cache and keep the rest
    # (llama.cpp's context shift) instead of reading it all again. What follows was read while they were
    # there: off gives the exact prompt every time, at seconds per move in a long chat on a CPU.
    context_shift: bool = True
    max_tokens: Positive = 300
    temperature: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.8
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.95
    top_k: Annotated[int, msgspec.Meta(ge=0)] = 40
    min_p: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.05
    repeat_penalty: Annotated[float, msgspec.Meta(ge=0)] = 1.1
    # Longest user message accepted, in characters.
    max_message_chars: Positive = 16000
    # Saved llama.cpp KV states of recent conversations (per model), so switching back is instant.
    kv_cache_mb: Annotated[int, msgspec.Meta(ge=0)] = 1024
    # Older states spill to <data_dir>/kvcache up to this size; 0 turns spilling off.
    kv_cache_disk_mb: Annotated[int, msgspec.Meta(ge=0)] = 2048
    # RAM the loaded local models may take together (weights + KV memory, estimated from each GGUF); the
    # least recently used idle model is unloaded to make room for another. 0 = no limit.
    memory_budget_mb: Annotated[int, msgspec.Meta(ge=0)] = 0


NonNegative = Annotated[int, msgspec.Meta(ge=0)]
ModelId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TierName = Literal["free", "plus", "pro", "creator"]  # bostonia.identity.Tier (config imports nothing of it)


class ModelPrice(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What one model's tokens cost, in integer micro-units (a millionth of the currency unit) per 1,000."""

    input_per_1k: NonNegative = 0
    output_per_1k: NonNegative = 0


class RoutesConfig(_Section):
    """`[models.routes]`: the ordered models that serve a reply; the next one takes over when one fails.

    A tier with no route uses the next lower tier's (free: `[llm] default_model`). `creative` is tried
    first in a chat whose creative mode is on. A model the character asks for, or one the user picked for
    the chat, goes before the route."""

    free: list[ModelId] = msgspec.field(default_factory=list)
    plus: list[ModelId] = msgspec.field(default_factory=list)
    pro: list[ModelId] = msgspec.field(default_factory=list)
    creator: list[ModelId] = msgspec.field(default_factory=list)
    creative: list[ModelId] = msgspec.field(default_factory=list)


class ModelsConfig(_Section):
    """`[models]`: where `bostonia models pull` downloads from, routes, fallback, prices."""

    # A Hugging Face-style hub: files at {hub_url}/{repo}/resolve/{revision}/{file}.
    hub_url: str = "https://huggingface.co"
    # The NAME of the environment variable holding a hub token (gated repos); unset = no token.
    hub_token_env: str = "HF_TOKEN"
    # A started generation that yields nothing for this long is abandoned for the next model of the
    # route: first piece (a long prompt is read first), then between pieces.
    first_piece_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    stall_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # A model that failed is passed over (while another can serve) for this long.
    retry_failed_after_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    routes: RoutesConfig = msgspec.field(default_factory=RoutesConfig)
    # `[models.prices."<model id>"]`: input_per_1k, output_per_1k. Models not listed are free.
    prices: dict[str, ModelPrice] = msgspec.field(default_factory=dict)
    # `[models.min_tier]`: "<model id>" = "pro" — the lowest plan that may pick that model for a chat or
    # name it in the API (routes always apply as configured). Models not listed: every plan.
    min_tier: dict[str, TierName] = msgspec.field(default_factory=dict)


class AuthConfig(_Section):
    access_token_minutes: Positive = 15
    refresh_token_days: Positive = 30
    session_days: Positive = 30
    min_password_length: Positive = 8
    # Send the session cookie only over HTTPS; turn on behind a TLS proxy.
    secure_cookies: bool = False
    # The JWT signing secret lives in this file inside the data dir (created on first start).
    secret_file: str = "secret.key"
    # Password-reset links stop working after this long (and after one use).
    password_reset_minutes: Positive = 60
    # Mature and adult characters unlock only for users at least this old (from /auth/verify-age).
    adult_age: Positive = 18
    # Login throttling: after this many failed attempts for one email (or from one IP), each further
    # failure blocks that email (or IP) for 1, 2, 4, ... seconds, up to login_max_block_seconds.
    login_free_attempts: Positive = 5
    login_free_attempts_per_ip: Positive = 20
    login_max_block_seconds: Positive = 900


class RateLimitConfig(_Section):
    """Requests per minute: signed-in users by their plan's tier, anonymous clients by IP."""

    enabled: bool = True
    free: Positive = 100
    plus: Positive = 300
    pro: Positive = 600
    creator: Positive = 1000
    anonymous: Positive = 60


class EmailConfig(_Section):
    """Outgoing mail (password resets). An empty host means email is not configured."""

    host: str = ""
    port: Port = 587
    username: str = ""
    # The NAME of the environment variable holding the SMTP password: secrets never go in this file.
    # (Not a BOSTONIA_* name: those are configuration keys.)
    password_env: str = ""
    from_address: str = "Bostonia <bostonia@localhost>"
    starttls: bool = True
    timeout_seconds: Positive = 10

    @property
    def configured(self) -> bool:
        return bool(self.host.strip())


class PrivacyConfig(_Section):
    # Admins cannot open other users' conversations or memories unless this is true; every such read
    # is then written to the audit log.
    admin_can_read_chats: bool = False
    # Deleting an account: "delete" removes everything it owns (its characters too); "anonymise" keeps
    # its public and unlisted characters, detached from the account and with the author name removed.
    delete_mode: Literal["delete", "anonymise"] = "delete"


class LoggingConfig(_Section):
    level: str = "INFO"
    json: bool = True


class UploadsConfig(_Section):
    """Limits for user-supplied files: character cards (PNG, JSON, CharX) and avatar images."""

    # One card file of any format; larger files are refused before they are parsed.
    max_card_bytes: Positive = 20 * 1024 * 1024
    # The decoded card JSON (a PNG text chunk may be at most its base64 size).
    max_card_json_bytes: Positive = 8 * 1024 * 1024
    # CharX zips: everything inside, uncompressed; the worst compression ratio; the number of entries.
    max_charx_uncompressed_bytes: Positive = 100 * 1024 * 1024
    max_charx_ratio: Positive = 100
    max_charx_entries: Positive = 1000
    # Avatar images: the upload, and the pixel count a decoder may allocate (decompression bombs).
    max_avatar_bytes: Positive = 10 * 1024 * 1024
    max_image_pixels: Positive = 25_000_000
    # Files accepted in one import request (the CLI has no such limit).
    max_files_per_import: Positive = 100


class CharactersConfig(_Section):
    # Trending: activity of the last `trending_window_days`, halving in weight every `trending_half_life_hours`;
    # the ranking is cached and recomputed at most every `trending_refresh_seconds`.
    trending_window_days: Positive = 7
    trending_half_life_hours: Positive = 48
    trending_refresh_seconds: Positive = 300


class VoiceConfig(_Section):
    """Speech: piper voices (the bundled one and any `*.onnx` + `.onnx.json` in `llm.models_dir`)."""

    # A voice id (a voice file's stem); "" = the bundled en_US-joe-medium, else the first one found.
    default_voice: str = ""
    # Synthesis and transcription jobs running at once (each a sentence); the rest wait their turn, users
    # taking turns. Keep it low on small machines: the chat model needs the cores too.
    workers: Positive = 1
    # CPU threads of one synthesis (onnxruntime); 0 = its default (all cores).
    threads: Annotated[int, msgspec.Meta(ge=0)] = 1
    # Longest text accepted by one request to speak, in characters.
    max_text_chars: Positive = 5000
    # A sentence longer than this is cut at a comma or a space, so speech starts sooner.
    max_sentence_chars: Positive = 240
    # Sentences one user may have waiting for synthesis at once.
    max_queued_sentences: Positive = 200
    # Push-to-talk uploads: the largest recording accepted, in bytes and in seconds.
    max_recording_bytes: Positive = 4 * 1024 * 1024
    max_recording_seconds: Positive = 60


class ModerationConfig(_Section):
    """Content moderation: chat input and output checked against the conversation's content tier."""

    # Check what users send and what models reply (false: no checks in chat; reports still work).
    enabled: bool = True
    # The signals besides the word lists: the offensive-language SVM (alt-profanity-check) and exemplar
    # similarity on the bundled embedding model (loads torch, ~300 MB; checks take ~10 ms more).
    classifier: bool = True
    similarity: bool = True
    # Avatars: check images with the bundled open_nsfw model; false queues every upload for an admin.
    image_model: bool = True


class MemoryConfig(_Section):
    """What characters remember: recall over every message, extracted facts, summaries."""

    # "minilm": the bundled all-MiniLM-L6-v2 embedding model; "hashing": no model at all (word hashing,
    # lexical only — for tests and machines that cannot spare the model's ~100 MB of RAM).
    embedder: Literal["minilm", "hashing"] = "minilm"
    # RAM for searching long conversations (100,000 messages take ~150 MB) without sqlite-vec's full scan.
    vector_cache_mb: Annotated[int, msgspec.Meta(ge=0)] = 512
    # Share of the model's context that recalled memories may fill in a prompt.
    prompt_share: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.2
    # How many recalled items a prompt gets at most (within that share): what the last exchange recalls
    # (read by the idle model before the user sends) ...
    prompt_items: Annotated[int, msgspec.Meta(ge=0, le=50)] = 5
    # ... and what the new message itself recalls, read while the user waits for the reply: each item
    # costs ~45 tokens of prefill on every reply of a long chat, each ~2x dearer at turn 30 than at turn 2.
    reply_items: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    # After each reply, the chat model extracts facts from the turn (in the background, preempted by replies).
    extraction: bool = True
    # ... once the conversation has been quiet this long: a model with one sequence would otherwise swap
    # the conversation's KV state out for the extraction and back in for the next reply (~1 s).
    extraction_quiet_seconds: Annotated[float, msgspec.Meta(ge=0)] = 20.0
    # Rolling "story so far" summaries of long chats (also written by the chat model in the background).
    summaries: bool = True


class TierEntitlements(_Section):
    """What one plan tier includes (its rate limit is in `[rate_limits]`)."""

    # Model routes this tier may generate with, by the orchestration's route names; "*" = every route.
    model_routes: list[str] = msgspec.field(default_factory=lambda: ["*"])
    # Credits added to the balance once per billing month (at each paid invoice; calendar months otherwise).
    monthly_credits: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Premium characters are included (no unlock needed); without it they unlock for their `premium_credits`.
    premium_access: bool = False
    # The monthly price a payment provider charges for the tier, in cents (0: not for sale).
    price_cents: Annotated[int, msgspec.Meta(ge=0)] = 0


class TiersConfig(_Section):
    """`[tiers.<tier>]`: the entitlements of each plan tier."""

    free: TierEntitlements = msgspec.field(default_factory=TierEntitlements)
    plus: TierEntitlements = msgspec.field(
        default_factory=lambda: TierEntitlements(monthly_credits=500, price_cents=999)
    )
    pro: TierEntitlements = msgspec.field(
        default_factory=lambda: TierEntitlements(monthly_credits=1500, premium_access=True, price_cents=1999)
    )
    creator: TierEntitlements = msgspec.field(
        default_factory=lambda: TierEntitlements(monthly_credits=3000, premium_access=True, price_cents=2999)
    )


class CreditPack(_Section):
    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$")]
    credits: Positive
    price_cents: Positive


def _default_packs() -> list[CreditPack]:
    return [
        CreditPack(name="small", credits=500, price_cents=499),
        CreditPack(name="large", credits=2200, price_cents=1999),
    ]


class BillingConfig(_Section):
    """Money and credits. Amounts of money are integer cents of `currency`; credits are integers."""

    currency: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{3}$")] = "usd"
    # Which registered payment provider takes payments ("" = the only one registered; none = a free server).
    payment_provider: str = ""
    # Generations are charged by model price (micro-units of `currency` per 1k tokens, from the cost
    # accounting): one credit is worth this many micro-units, and a reply's cost is rounded up to credits.
    micros_per_credit: Positive = 10_000
    # Replies a user may have in flight hold their estimated cost against the balance for at most this long.
    reservation_seconds: Positive = 300
    # The estimate held per reply: this many prompt tokens plus `[llm] max_tokens` of output.
    estimate_prompt_tokens: Positive = 2000
    credit_packs: list[CreditPack] = msgspec.field(default_factory=_default_packs)


class CreatorsConfig(_Section):
    """The creator economy: shares of premium unlocks, tips and subscriptions, paid out in cents."""

    # The creator's share of what their characters earn (the rest is the platform's fee).
    revenue_share_rate: Decimal = Decimal("0.70")
    # What one credit spent on a creator (unlock, tip) is worth to them before the fee, in cents.
    cents_per_credit: Positive = 1
    # Smallest payout a creator may request, in cents.
    minimum_payout_cents: Positive = 1000

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.revenue_share_rate <= Decimal(1):
            raise ValueError("revenue_share_rate must be between 0 and 1 (0.70 is 70 %)")


class AnalyticsConfig(_Section):
    """Product analytics: events (no message content, no personal data) written in batches."""

    enabled: bool = True
    # Raw events are deleted after this many days; daily counts (per event and character) after `daily_days`.
    retention_days: Positive = 90
    daily_retention_days: Positive = 730
    # The writer flushes queued events this often, or as soon as `batch_size` are waiting.
    flush_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    batch_size: Positive = 500
    # Events waiting beyond this are dropped (and counted): analytics never grows memory without bound.
    max_queued: Positive = 50_000


class PluginsConfig(_Section):
    """`[plugins]`: which installed plugins load, and each plugin's own `[plugins.<name>]` table."""

    # Entry-point names of the installed plugins to load (also `BOSTONIA_PLUGINS=a,b`); an installed
    # plugin that is not listed is not loaded.
    enabled: list[str] = msgspec.field(default_factory=list)
    # `[plugins.<name>]` tables as written (plus `BOSTONIA_PLUGINS_<NAME>_<KEY>` values), until
    # `bostonia.plugins.configure_plugins` validates each against the Struct its plugin declares.
    tables: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    env: dict[str, Any] = msgspec.field(default_factory=dict)
    # The validated settings of each loaded plugin that declared a table (`plugin_api.plugin_config`).
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "data"
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    database: DatabaseConfig = msgspec.field(default_factory=DatabaseConfig)
    llm: LLMConfig = msgspec.field(default_factory=LLMConfig)
    models: ModelsConfig = msgspec.field(default_factory=ModelsConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    rate_limits: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    email: EmailConfig = msgspec.field(default_factory=EmailConfig)
    privacy: PrivacyConfig = msgspec.field(default_factory=PrivacyConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    uploads: UploadsConfig = msgspec.field(default_factory=UploadsConfig)
    characters: CharactersConfig = msgspec.field(default_factory=CharactersConfig)
    voice: VoiceConfig = msgspec.field(default_factory=VoiceConfig)
    moderation: ModerationConfig = msgspec.field(default_factory=ModerationConfig)
    memory: MemoryConfig = msgspec.field(default_factory=MemoryConfig)
    tiers: TiersConfig = msgspec.field(default_factory=TiersConfig)
    billing: BillingConfig = msgspec.field(default_factory=BillingConfig)
    creators: CreatorsConfig = msgspec.field(default_factory=CreatorsConfig)
    analytics: AnalyticsConfig = msgspec.field(default_factory=AnalyticsConfig)
    plugins: PluginsConfig = msgspec.field(default_factory=PluginsConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def database_path(self) -> Path:
        return self.data_path / self.database.path

    @property
    def models_path(self) -> Path:
        return Path(self.llm.models_dir).expanduser().resolve()


def _sections() -> dict[str, type[msgspec.Struct]]:
    return {
        field.name: field.type
        for field in msgspec.structs.fields(Settings)
        if isinstance(field.type, type) and issubclass(field.type, _Section)
    }


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn BOSTONIA_* variables into a nested dict shaped like the TOML file."""
    sections = _sections()
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        value: Any = raw
        if raw[:1] in "[{":  # lists and tables are written as JSON
            try:
                value = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise ConfigError(f"{name}: not valid JSON ({exc})") from None
        section = next(
            (s for s in sorted([*sections, *MOVED_TO_PLUGINS], key=len, reverse=True) if key.startswith(s + "_")),
            None,
        )
        if section == "plugins":
            rest = key[len("plugins_") :]
            if rest == "enabled":
                overrides.setdefault("plugins", {})["enabled"] = value
            else:  # BOSTONIA_PLUGINS_<NAME>_<KEY>: resolved once the plugins' names and tables are known
                overrides.setdefault("plugins", {}).setdefault("env", {})[rest] = value
        elif section in MOVED_TO_PLUGINS:
            plugin = MOVED_TO_PLUGINS[section].replace("-", "_")
            overrides.setdefault("plugins", {}).setdefault("env", {})[f"{plugin}_{key[len(section) + 1 :]}"] = value
        elif section is None:
            overrides[key] = value
        else:
            overrides.setdefault(section, {})[key[len(section) + 1 :]] = value
    if names := environ.get(PLUGINS_ENV):
        overrides.setdefault("plugins", {})["enabled"] = [n.strip() for n in names.split(",") if n.strip()]
    return overrides


def _plugin_tables(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Move `[plugins.<name>]` tables (and sections that became plugin tables) under `plugins.tables`, where
    they wait for their plugin's Struct; `[plugins]`'s own keys stay as they are."""
    data = dict(data)
    plugins = dict(data.get("plugins") or {})
    tables = dict(plugins.pop("tables", None) or {})
    for key in [k for k, v in plugins.items() if isinstance(v, dict) and k not in ("env", "config")]:
        tables[key] = plugins.pop(key)
    for section, plugin in MOVED_TO_PLUGINS.items():
        if isinstance(data.get(section), dict):
            warnings.warn(
                f"{source}: [{section}] is deprecated; move it to [plugins.{plugin}] (read from both in this release)",
                DeprecationWarning,
                stacklevel=3,
            )
            tables.setdefault(plugin, data.pop(section))
    if tables:
        plugins["tables"] = tables
    if plugins or "plugins" in data:
        data["plugins"] = plugins
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def default_config_path() -> Path | None:
    """`$BOSTONIA_CONFIG`, else `./bostonia.toml` when it exists."""
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    local = Path("bostonia.toml")
    return local if local.is_file() else None


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read `path` (or the default config file), then env vars, then explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    path = path or default_config_path()
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        source = str(path)
    data = _plugin_tables(data, source)
    try:  # validate the file on its own first, so its errors name the file rather than the env
        msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    data = _merge(data, _env_overrides(environ))
    data = _merge(data, _plugin_tables(dict(overrides or {}), "overrides"))
    try:
        return msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"configuration (file {source} + BOSTONIA_* environment): {exc}") from None


def render_default_toml() -> str:
    """The starter `bostonia.toml` written by `bostonia init`: every key with its default."""
    settings = Settings()
    lines = ["# Bostonia instance configuration. Every key: BOSTONIA_<SECTION>_<KEY> overrides it.", ""]
    lines.append(f"data_dir = {_toml_value(settings.data_dir)}")
    for name in _sections():
        lines += _render_table(name, getattr(settings, name))
    return "\n".join(lines) + "\n"


def _render_table(name: str, section: msgspec.Struct) -> list[str]:
    lines = ["", f"[{name}]"]
    subtables: list[str] = []
    for field in msgspec.structs.fields(section):
        if name == "plugins" and field.name != "enabled":
            continue  # plugin tables are the plugins' own
        value = getattr(section, field.name)
        if isinstance(value, _Section):
            subtables += _render_table(f"{name}.{field.name}", value)
        elif isinstance(value, dict):
            subtables += ["", f"# [{name}.{field.name}] (a table; empty by default)"]
        elif value is None:
            lines.append(f"# {field.name} = ")
        else:
            lines.append(f"{field.name} = {_toml_value(value)}")
    return lines + subtables


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, msgspec.Struct):  # a sub-table ([tiers] plus = {...}), written inline
        items = (f"{f.name} = {_toml_value(getattr(value, f.name))}" for f in msgspec.structs.fields(value))
        return "{ " + ", ".join(items) + " }"
    return str(value)
