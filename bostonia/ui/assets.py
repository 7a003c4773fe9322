"""Where the web UI's templates and static files are: inside the package when installed from a wheel (the
build copies the top-level `web/` there), else the source tree's `web/`, where they are edited."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent.parent / "web"
_SOURCE = Path(__file__).resolve().parent.parent.parent / "web"
WEB_DIR = _PACKAGED if _PACKAGED.is_dir() else _SOURCE
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
