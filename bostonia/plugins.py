"""The plugin manager: which plugins load, and each one's settings validated against the Struct it declares.

Built-in behaviour is written as default plugins (`bostonia.default_plugins`) registered first, so
installed plugins use the very same hooks. An installed plugin (entry point group `bostonia`) loads only
when enabled: `[plugins] enabled = [...]` or `BOSTONIA_PLUGINS=a,b`. Under pytest no installed plugin
loads unless `BOSTONIA_PLUGINS` names it: tests register what they need.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import msgspec
import pluggy
from sqlite_utils import Migrations

from bostonia import hookspecs
from bostonia.config import PLUGINS_ENV, Settings
from bostonia.errors import ConfigError

DEFAULT_PLUGINS = ("bostonia.default_plugins.local_models",)
ENTRY_POINT_GROUP = "bostonia"


def make_plugin_manager(enabled: Iterable[str] | None = None) -> pluggy.PluginManager:
    """The default plugins plus the enabled installed ones (`enabled`, or `BOSTONIA_PLUGINS` over it).

    Naming a plugin that is not installed is an error, so a typo does not silently run without it.
    """
    pm = pluggy.PluginManager("bostonia")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    wanted = list(enabled or [])
    if env := os.environ.get(PLUGINS_ENV, os.environ.get("BOSTONIA_LOAD_PLUGINS")):
        wanted = [name.strip() for name in env.split(",") if name.strip()]
    elif "pytest" in sys.modules:
        wanted = []
    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    missing = [name for name in wanted if name not in installed]
    if missing:
        raise ConfigError(
            f"plugins enabled but not installed: {', '.join(missing)}"
            f" (installed: {', '.join(sorted(installed)) or 'none'})"
        )
    for name in wanted:
        if pm.get_plugin(name) is None:
            pm.register(installed[name].load(), name=name)
    return pm


def plugin_schemas(pm: pluggy.PluginManager) -> dict[str, type[msgspec.Struct]]:
    schemas: dict[str, type[msgspec.Struct]] = {}
    for declared in pm.hook.plugin_settings():
        for name, schema in (declared or {}).items():
            if name in schemas:
                raise ConfigError(f"two plugins declare settings [plugins.{name}]")
            schemas[name] = schema
    return schemas


def configure_plugins(pm: pluggy.PluginManager, settings: Settings) -> Settings:
    """Validate every `[plugins.<name>]` table (file + `BOSTONIA_PLUGINS_<NAME>_<KEY>`) against its plugin's
    Struct; returns the settings with `plugins.config` filled. A table no loaded plugin declared is kept
    unread: the plugin may be installed but not enabled here."""
    schemas = plugin_schemas(pm)
    env = dict(settings.plugins.env)
    validated: dict[str, Any] = {}
    # Longest names first, so `BOSTONIA_PLUGINS_OPENAI_COMPATIBLE_X` never goes to a plugin named "openai".
    for name in sorted(schemas, key=len, reverse=True):
        raw = dict(settings.plugins.tables.get(name, {}))
        prefix = name.replace("-", "_").lower() + "_"
        for key in [k for k in env if k.startswith(prefix)]:
            raw[key[len(prefix) :]] = env.pop(key)
        try:
            validated[name] = msgspec.convert(raw, schemas[name], strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"[plugins.{name}] (plugin {name!r}): {exc}") from None
    if env:
        unknown = ", ".join(f"BOSTONIA_PLUGINS_{key.upper()}" for key in sorted(env))
        raise ConfigError(f"{unknown}: no loaded plugin has settings by that name")
    return msgspec.structs.replace(
        settings, plugins=msgspec.structs.replace(settings.plugins, config=validated, env={})
    )


def plugin_migrations(pm: pluggy.PluginManager) -> list[Migrations]:
    found: list[Migrations] = []
    pm.hook.register_migrations(register=found.append)
    return found


def plugin_template_dirs(pm: pluggy.PluginManager) -> list[Path]:
    return [Path(folder) for folders in pm.hook.template_dirs() for folder in folders or []]


async def call_all(results: list[Any]) -> None:
    """Await what hook implementations returned (a hook may be a plain or a coroutine function)."""
    for result in results:
        if inspect.isawaitable(result):
            await result
