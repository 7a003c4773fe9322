"""Anthropic's Claude models (Messages API, streamed through the official SDK): the plugin's hooks.

`[plugins.anthropic]` names the key's environment variable (required: a missing key stops the start-up
with a message naming it) and the models to offer, registered as `<prefix><model>`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from bostonia.plugin_api import ChatModel, ConfigError, Settings, hookimpl, plugin_config, secret_from_env
from bostonia_anthropic.model import ClaudeModel, make_client

__all__ = ["plugin_settings", "register_models"]
NAME = "anthropic"


class AnthropicSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # The NAME of the environment variable holding the API key.
    api_key_env: str = "ANTHROPIC_API_KEY"
    models: list[str] = msgspec.field(default_factory=list)
    prefix: str = "anthropic/"
    base_url: str = ""  # "" = Anthropic's API
    context_size: int = 200_000
    concurrency: int = 8
    timeout_seconds: float = 120.0


@hookimpl
def plugin_settings() -> dict[str, type]:
    return {NAME: AnthropicSettings}


@hookimpl
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    config = plugin_config(settings, NAME, AnthropicSettings)
    key = secret_from_env(config.api_key_env, setting="[plugins.anthropic] api_key_env")
    if not config.models:
        raise ConfigError("[plugins.anthropic] models is empty: name the Claude models to offer")
    client = make_client(key or "", config.base_url or None, config.timeout_seconds)
    for remote_id in config.models:
        register(
            ClaudeModel(
                remote_id,
                client,
                model_id=config.prefix + remote_id,
                context_size=config.context_size,
                concurrency=config.concurrency,
            )
        )
