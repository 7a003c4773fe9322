from __future__ import annotations

import inspect

from bostonia import hookspecs
from bostonia.plugins import DEFAULT_PLUGINS, make_plugin_manager


def test_every_hook_is_documented() -> None:
    hooks = [fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "bostonia_spec")]
    assert hooks, "no hookspecs found"
    for hook in hooks:
        assert (hook.__doc__ or "").strip(), f"hook {hook.__name__} has no docstring"


def test_default_plugins_are_registered_and_installed_ones_skipped_under_pytest() -> None:
    pm = make_plugin_manager()
    names = {pm.get_name(plugin) for plugin in pm.get_plugins()}
    assert names == set(DEFAULT_PLUGINS)
