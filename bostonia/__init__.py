"""Bostonia: a self-hostable AI character chat server.

Plugins import from `bostonia.plugin_api` (the hook marker, the types, the helpers) and nothing else;
the hooks are listed in `bostonia.hookspecs` and documented in `docs/plugins.md`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
