"""Template macros in card, persona and message text (SillyTavern's syntax).

`{{char}}`, `{{user}}` (and the Tavern spellings `<BOT>`, `<USER>`), `{{random:a,b}}` (a fresh choice each
time), `{{pick:a,b}}` (a choice that stays the same for one conversation, so a re-rendered prompt does not
change under the KV cache), `{{roll:d6}}` / `{{roll:2d10}}`, `{{time}}`, `{{date}}`, `{{weekday}}`,
`{{idle_duration}}` (since the user's previous message), `{{// comment}}` (removed), `{{newline}}`,
`{{trim}}`. In group chats (SillyTavern's names): `{{group}}` (every member), `{{groupNotMuted}}`,
`{{notChar}}` (everyone in the chat but the speaker); outside a group they name the character (and, for
`{{notChar}}`, the user). Unknown macros are left as written.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MACRO_RE = re.compile(r"\{\{\s*(//[^}]*|[^{}]*?)\s*\}\}", re.DOTALL)
LEGACY_RE = re.compile(r"<(BOT|USER|CHAR)>", re.IGNORECASE)
DICE_RE = re.compile(r"^\s*(\d*)\s*d\s*(\d+)\s*([+-]\s*\d+)?\s*$", re.IGNORECASE)
MAX_DICE = 100


@dataclass
class MacroContext:
    char: str
    user: str
    # Seeds `{{pick}}`: the same conversation always picks the same option.
    seed: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_user_message_at: datetime | None = None
    rng: random.Random = field(default_factory=random.Random)
    # A group chat's names, written out ("Ann, Bo and Cy"); empty outside a group.
    group: str = ""
    group_not_muted: str = ""
    not_char: str = ""


def _split_options(argument: str) -> list[str]:
    # `{{random::a, b::c}}` separates options with `::` so they may contain commas (SillyTavern's syntax).
    if argument.startswith(":"):
        return [option.strip() for option in argument[1:].split("::")]
    return [option.strip() for option in argument.split(",")]


def _roll(argument: str, rng: random.Random) -> str | None:
    match = DICE_RE.match(argument if "d" in argument.lower() else f"d{argument}")
    if not match:
        return None
    count = min(int(match.group(1) or 1), MAX_DICE)
    sides = int(match.group(2))
    if sides < 1:
        return None
    bonus = int(match.group(3).replace(" ", "")) if match.group(3) else 0
    return str(sum(rng.randint(1, sides) for _ in range(count)) + bonus)


def describe_duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            amount = int(seconds // size)
            return f"{amount} {unit}{'s' if amount != 1 else ''}"
    return "a few seconds"


def expand_with(text: str, context: MacroContext) -> str:
    """Expand every macro in `text`. `{{pick}}` choices depend on the seed and the macro's position."""
    if "{{" not in text and "<" not in text:
        return text

    def pick(argument: str, offset: int) -> str:
        options = _split_options(argument)
        digest = hashlib.sha256(f"{context.seed}|{offset}|{argument}".encode()).digest()
        return options[int.from_bytes(digest[:8], "big") % len(options)]

    handlers: dict[str, Callable[[str, int], str | None]] = {
        "char": lambda _a, _o: context.char,
        "bot": lambda _a, _o: context.char,
        "user": lambda _a, _o: context.user,
        "random": lambda a, _o: context.rng.choice(_split_options(a)) if a else "",
        "pick": lambda a, o: pick(a, o) if a else "",
        "roll": lambda a, _o: _roll(a, context.rng),
        "time": lambda _a, _o: context.now.strftime("%H:%M"),
        "date": lambda _a, _o: context.now.strftime("%B %d, %Y"),
        "weekday": lambda _a, _o: context.now.strftime("%A"),
        "isotime": lambda _a, _o: context.now.strftime("%H:%M"),
        "isodate": lambda _a, _o: context.now.strftime("%Y-%m-%d"),
        "idle_duration": lambda _a, _o: describe_duration(
            (context.now - context.last_user_message_at).total_seconds() if context.last_user_message_at else 0
        ),
        "group": lambda _a, _o: context.group or context.char,
        "groupnotmuted": lambda _a, _o: context.group_not_muted or context.group or context.char,
        "notchar": lambda _a, _o: context.not_char or context.user,
        "newline": lambda _a, _o: "\n",
        "trim": lambda _a, _o: "",
    }

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("//"):
            return ""
        name, _, argument = body.partition(":")
        handler = handlers.get(name.strip().lower())
        if handler is None:
            return match.group(0)
        result = handler(argument.strip(), match.start())
        return match.group(0) if result is None else result

    text = MACRO_RE.sub(replace, text)
    return LEGACY_RE.sub(lambda m: context.user if m.group(1).upper() == "USER" else context.char, text)


def expand(text: str, *, char: str, user: str) -> str:
    """The common case: names only (plus the context-free macros)."""
    return expand_with(text, MacroContext(char=char, user=user))
