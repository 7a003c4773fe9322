"""Character Card V3 lorebook decorators: `@@name value` lines at the top of an entry's content.

What the V3 specification says, and what Bostonia does with each:

- lines at the very top of `content` that start with `@@` are decorators; the first other line starts
  the content, and the newlines around the decorators are trimmed;
- `@@@name` is a fallback of the decorator right above it: considered only when that one was not
  recognised or was ignored (chains of fallbacks are checked top to bottom);
- unknown decorators and invalid values are ignored, never errors; of repeated names the first counts.

Recognised (they change activation or placement): `@@activate`, `@@dont_activate`,
`@@activate_only_after N`, `@@activate_only_every N`, `@@keep_activate_after_match`,
`@@dont_activate_after_match`, `@@depth N`, `@@role R`, `@@scan_depth N`, `@@position P`,
`@@is_greeting N`, `@@additional_keys a,b`, `@@exclude_keys a,b`, `@@probability N` (RisuAI),
`@@ignore_on_max_context`, `@@constant`. The spec tells chat-based applications to ignore
`@@instruct_depth`, `@@instruct_scan_depth`, `@@reverse_depth` and `@@reverse_instruct_depth` (they count
tokens of a non-chat prompt), so Bostonia — a chat — ignores them, and their fallbacks apply instead.
"""

from __future__ import annotations

import msgspec

# Decorators that take a whole number, and the smallest value each accepts.
NUMBER_DECORATORS = {
    "activate_only_after": 0,
    "activate_only_every": 1,
    "depth": 0,
    "scan_depth": 0,
    "is_greeting": 0,
    "probability": 0,
}
FLAG_DECORATORS = {
    "activate",
    "dont_activate",
    "keep_activate_after_match",
    "dont_activate_after_match",
    "ignore_on_max_context",
    "constant",
}
LIST_DECORATORS = {"additional_keys", "exclude_keys"}
ROLES = ("system", "user", "assistant")
# V3 `@@position` values, mapped onto World Info placements (see activation.py for where those go).
POSITIONS = {
    "before_desc": "before_char",
    "after_desc": "after_char",
    "personality": "after_char",
    "scenario": "after_char",
}
MAX_DECORATOR_LINES = 64


class Decorators(msgspec.Struct, kw_only=True):
    activate: bool = False
    dont_activate: bool = False
    activate_only_after: int | None = None
    activate_only_every: int | None = None
    keep_activate_after_match: bool = False
    dont_activate_after_match: bool = False
    ignore_on_max_context: bool = False
    constant: bool = False
    depth: int | None = None
    role: str | None = None
    scan_depth: int | None = None
    position: str | None = None
    is_greeting: int | None = None
    probability: int | None = None
    additional_keys: list[str] = msgspec.field(default_factory=list)
    exclude_keys: list[str] = msgspec.field(default_factory=list)
    names: list[str] = msgspec.field(default_factory=list)  # the decorators that applied, for the prompt view

    @property
    def any(self) -> bool:
        return bool(self.names)


def _apply(found: Decorators, name: str, value: str) -> bool:
    """Record decorator `name` with its value; False when it is unknown, ignored or invalid."""
    if name in found.names:
        return True  # a repeated name: the first one counts, and the repeat is not "ignored"
    if name in FLAG_DECORATORS:
        setattr(found, name, True)
    elif name in NUMBER_DECORATORS:
        try:
            number = int(value.strip())
        except ValueError:
            return False
        if number < NUMBER_DECORATORS[name] or (name == "probability" and number > 100):
            return False
        setattr(found, name, number)
    elif name in LIST_DECORATORS:
        values = [part.strip() for part in value.split(",") if part.strip()]
        if not values:
            return False
        setattr(found, name, values)
    elif name == "role":
        if value.strip().lower() not in ROLES:
            return False
        found.role = value.strip().lower()
    elif name == "position":
        placement = POSITIONS.get(value.strip().lower())
        if placement is None:
            return False
        found.position = placement
    else:
        return False  # unknown, or one the spec tells a chat application to ignore
    found.names.append(name)
    return True


def parse(content: str) -> tuple[Decorators, str]:
    """(the decorators at the top of `content`, the content without them)."""
    found = Decorators()
    if not content.startswith("@@"):
        return found, content
    lines = content.split("\n")
    # Whether the decorator line above was applied; a fallback (`@@@`) is only read when it was not.
    previous_applied = True
    body = len(lines)
    for index, line in enumerate(lines):
        text = line.strip()
        if not text.startswith("@@"):
            body = index
            break
        if index >= MAX_DECORATOR_LINES:
            continue  # skipped, not read: a bound on work per entry
        if text.startswith("@@@") and previous_applied:
            continue
        name, _, value = text.lstrip("@").partition(" ")
        previous_applied = _apply(found, name.strip().lower(), value)
    return found, "\n".join(lines[body:]).strip("\n")
