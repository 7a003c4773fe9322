"""Jinja filters for the web UI."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

from bostonia.prompt.macros import expand
from bostonia.ui.markdown import render_markdown


def initials(name: str) -> str:
    words = [w for w in re.split(r"\s+", name.strip()) if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def avatar_hue(seed: str) -> int:
    """A stable colour per name, for avatars without an image."""
    return int(hashlib.sha1(seed.encode()).hexdigest()[:4], 16) % 360


def timestamp(iso: str | None) -> Markup:
    """A message's time as `<time>`: the UTC clock time here; app.js shows it in the reader's own zone."""
    if not iso:
        return Markup("")
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return Markup("")
    when = when.replace(tzinfo=when.tzinfo or UTC).astimezone(UTC)
    shown = when.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(escape(when.isoformat()), shown, shown)


def macros(text: str, char: str, user: str) -> str:
    return expand(text, char=char, user=user)


FILTERS = {
    "markdown": render_markdown,
    "initials": initials,
    "avatar_hue": avatar_hue,
    "macros": macros,
    "timestamp": timestamp,
}
