"""Template macros in card text: `{{char}}`, `{{user}}` and the Tavern spellings `<BOT>`, `<USER>`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

MACRO_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
LEGACY_RE = re.compile(r"<(BOT|USER|CHAR)>", re.IGNORECASE)


def expand(text: str, *, char: str, user: str, extra: Mapping[str, Callable[[str], str]] | None = None) -> str:
    """Replace known macros (case-insensitive); unknown ones are left as written."""
    names: dict[str, Callable[[str], str]] = {
        "char": lambda _: char,
        "user": lambda _: user,
        "bot": lambda _: char,
        **(extra or {}),
    }

    def macro(match: re.Match[str]) -> str:
        body = match.group(1)
        name, _, argument = body.partition(":")
        handler = names.get(name.strip().lower())
        return handler(argument) if handler else match.group(0)

    text = MACRO_RE.sub(macro, text)
    return LEGACY_RE.sub(lambda m: user if m.group(1).upper() == "USER" else char, text)
