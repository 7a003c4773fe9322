"""The plugin manager. Built-in behaviour is written as default plugins that others can override."""

from __future__ import annotations

import importlib
import os
import sys

import pluggy

from bostonia import hookspecs

# Core behaviour implemented as plugins, so third-party plugins use the very same hooks.
DEFAULT_PLUGINS = ("bostonia.default_plugins.local_models",)


def make_plugin_manager(load: list[str] | None = None) -> pluggy.PluginManager:
    """Build a manager with the default plugins plus installed `bostonia` entry-point plugins.

    Installed plugins are not loaded under pytest (tests register what they need) unless
    BOSTONIA_LOAD_PLUGINS names them; `load` (from `[plugins] load`) is an allow-list.
    """
    pm = pluggy.PluginManager("bostonia")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    allow = load
    if env := os.environ.get("BOSTONIA_LOAD_PLUGINS"):
        allow = [name.strip() for name in env.split(",") if name.strip()]
    elif "pytest" in sys.modules:
        allow = []
    if allow is None:
        pm.load_setuptools_entrypoints("bostonia")
    else:
        for name in allow:
            pm.load_setuptools_entrypoints("bostonia", name=name)
    return pm
