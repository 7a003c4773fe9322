"""Bostonia: a self-hostable AI character chat server.

Plugins import `hookimpl` from here and implement hooks listed in `bostonia.hookspecs`.
"""

from bostonia.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
