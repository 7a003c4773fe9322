"""Jinja filters for the web UI."""

from __future__ import annotations

import hashlib
import re

from markupsafe import Markup, escape

from bostonia.prompt.macros import expand

ACTION_RE = re.compile(r"\*([^*\n]+)\*")


def roleplay(text: str) -> Markup:
    """Escape, then show *actions* in italics, the roleplay convention."""
    return Markup(ACTION_RE.sub(r"<em>\1</em>", str(escape(text))))


def initials(name: str) -> str:
    words = [w for w in re.split(r"\s+", name.strip()) if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def avatar_hue(seed: str) -> int:
    """A stable colour per name, for avatars without an image."""
    return int(hashlib.sha1(seed.encode()).hexdigest()[:4], 16) % 360


def macros(text: str, char: str, user: str) -> str:
    return expand(text, char=char, user=user)


FILTERS = {"roleplay": roleplay, "initials": initials, "avatar_hue": avatar_hue, "macros": macros}
