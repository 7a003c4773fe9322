"""Chat models from OpenAI-compatible servers: the plugin's hooks.

Each `[[plugins.openai.providers]]` entry is a server (OpenAI, OpenRouter, Together, vLLM, Ollama, LM
Studio, llama.cpp's `llama-server`, another Bostonia) or a pool of identical ones (`base_urls`); each of its
models is registered as `<prefix><model id>`. A key named by `api_key_env` that is not set stops the
start-up with a message naming the setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bostonia.plugin_api import (
    ChatModel,
    ConfigError,
    PluginServices,
    Settings,
    hookimpl,
    plugin_config,
    secret_from_env,
)
from bostonia_openai.model import OpenAICompatibleModel, discover, make_client
from bostonia_openai.pool import BackendPool
from bostonia_openai.settings import OpenAISettings

__all__ = ["plugin_settings", "register_models", "shutdown"]
NAME = "openai"
_clients: list[httpx.Client] = []


def openai_settings(settings: Settings) -> OpenAISettings:
    return plugin_config(settings, NAME, OpenAISettings)


@hookimpl
def plugin_settings() -> dict[str, type]:
    return {NAME: OpenAISettings}


@hookimpl
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    config = openai_settings(settings)
    names = [provider.name for provider in config.providers]
    if len(set(names)) != len(names):
        raise ConfigError(f"[plugins.openai] providers: two have the same name ({', '.join(names)})")
    for index, provider in enumerate(config.providers):
        key = secret_from_env(
            provider.api_key_env,
            setting=f"[plugins.openai] providers[{index}] ({provider.name}) api_key_env",
            required=bool(provider.api_key_env),
        )
        for url in provider.base_urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"[plugins.openai] providers[{index}] ({provider.name}) base_urls: {url!r} is no URL")
        pool = BackendPool(provider.base_urls, retry_seconds=provider.retry_unhealthy_seconds)
        client = make_client(provider, key)
        _clients.append(client)
        for remote_id in provider.models or discover(provider, client, pool):
            register(OpenAICompatibleModel(provider, remote_id, pool, client))


@hookimpl
def shutdown(services: PluginServices) -> Any:
    while _clients:
        _clients.pop().close()
