"""A lorebook entry as the activation loop reads it: every World Info setting resolved once.

An entry's settings live in three places (the card's own fields, SillyTavern's snake_case `extensions`,
and V3 decorators at the top of its content), with the user's activation settings as defaults. This
module reads them all into one flat `CompiledEntry`, so the per-turn loop never parses JSON, decorators
or patterns. Compiled books are cached by (book, its `updated_at`, the names macros expand to, the
settings keys depend on): a turn that changes nothing compiles nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bostonia.lore import decorators as deco
from bostonia.lore.matching import Key, prepare_keys
from bostonia.lore.schemas import (
    LOGIC_NAMES,
    ROLES,
    Lorebook,
    LoreEntry,
    LoreSettings,
    extension_flag,
    extension_number,
)

CHARS_PER_TOKEN = 4  # the injector has no tokenizer; the prompt builder counts exactly afterwards
DEFAULT_AT_DEPTH = 4  # SillyTavern's DEFAULT_DEPTH for an @depth entry without one
DEFAULT_GROUP_WEIGHT = 100
BOOK_CACHE_SIZE = 128
SOURCES = ("chat", "persona", "character", "global")


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def _number(ext: dict[str, Any], key: str) -> int | None:
    return extension_number(ext.get(key))


def _flag(ext: dict[str, Any], key: str) -> bool | None:
    return extension_flag(ext.get(key))


@dataclass(slots=True, eq=False)
class CompiledEntry:
    id: str
    book_id: str
    book_name: str
    source: str
    title: str
    content: str
    tokens: int
    order: int
    enabled: bool
    constant: bool
    keys: tuple[Key, ...]
    secondary: tuple[Key, ...]
    logic: int
    placement: str
    depth: int
    role: str
    probability: int
    use_probability: bool
    groups: tuple[str, ...]
    group_override: bool
    group_weight: int
    use_group_scoring: bool | None
    scan_depth: int | None
    exclude_recursion: bool
    prevent_recursion: bool
    delay_until_recursion: int  # 0 = not delayed; else the recursion level it waits for
    sticky: int
    cooldown: int
    delay: int
    vectorized: bool
    ignore_budget: bool
    book_budget: int | None
    decorators: deco.Decorators
    additional: tuple[Key, ...] = ()
    excluded: tuple[Key, ...] = ()
    simple: bool = False

    @property
    def timed(self) -> bool:
        return bool(self.sticky or self.cooldown)

    def __post_init__(self) -> None:
        # Activated by its keys alone: no decorators, delays or constant flag to consider (a fast path).
        self.simple = not (self.decorators.names or self.constant or self.delay or self.delay_until_recursion)


def expand_names(text: str, char: str, user: str) -> str:
    """`{{char}}` and `{{user}}` in keys (SillyTavern substitutes macros in keys before matching)."""
    if "{{" not in text and "<" not in text:
        return text
    for macro, value in (("{{char}}", char), ("{{user}}", user), ("<bot>", char), ("<user>", user)):
        lowered = text.lower()
        start = lowered.find(macro)
        while start != -1:
            text = text[:start] + value + text[start + len(macro) :]
            lowered = text.lower()
            start = lowered.find(macro, start + len(value))
    return text


def compile_entry(
    entry: LoreEntry, book: Lorebook, source: str, settings: LoreSettings, char: str, user: str
) -> CompiledEntry:
    ext = entry.extensions
    found, content = deco.parse(entry.content)
    # Names in the content as the prompt will show them, so recursion can match them (SillyTavern
    # substitutes macros before an entry's content joins the recursion buffer).
    content = expand_names(content, char, user).strip()
    case_sensitive = entry.case_sensitive
    if case_sensitive is None:
        case_sensitive = _flag(ext, "case_sensitive")
    if case_sensitive is None:
        case_sensitive = settings.case_sensitive
    whole = entry.match_whole_words if entry.match_whole_words is not None else settings.match_whole_words
    use_regex = entry.use_regex

    def keys(values: list[str]) -> tuple[Key, ...]:
        return prepare_keys(
            [expand_names(v, char, user) for v in values],
            case_sensitive=case_sensitive,
            whole_words=whole,
            use_regex=use_regex,
        )

    placement = found.position or entry.placement
    depth = DEFAULT_AT_DEPTH if entry.depth is None else entry.depth
    if found.depth is not None and found.position is None:  # V3: @@position wins over @@depth
        placement, depth = "at_depth", found.depth
    delay_recursion = ext.get("delay_until_recursion")
    if isinstance(delay_recursion, bool):
        delay_level = 1 if delay_recursion else 0
    else:
        delay_level = max(0, _number(ext, "delay_until_recursion") or 0)
    group = ext.get("group")
    weight = _number(ext, "group_weight")
    use_probability = _flag(ext, "useProbability")
    probability = found.probability if found.probability is not None else entry.probability
    title = entry.comment or entry.name or (entry.keys[0] if entry.keys else "") or content[:40]
    return CompiledEntry(
        id=entry.id,
        book_id=book.id,
        book_name=book.name,
        source=source,
        title=title,
        content=content,
        tokens=estimate_tokens(content),
        order=entry.insertion_order,
        enabled=entry.enabled,
        constant=entry.constant or found.constant,
        keys=keys(entry.keys),
        secondary=keys(entry.secondary_keys) if entry.selective else (),
        logic=entry.selective_logic if 0 <= entry.selective_logic < len(LOGIC_NAMES) else 0,
        placement=placement,
        depth=max(0, depth),
        role=found.role or (entry.role if entry.role in ROLES else "system"),
        probability=min(100, max(0, probability)),
        use_probability=True if use_probability is None else use_probability,
        groups=tuple(g.strip() for g in group.split(",") if g.strip()) if isinstance(group, str) else (),
        group_override=bool(_flag(ext, "group_override")),
        group_weight=DEFAULT_GROUP_WEIGHT if weight is None else max(0, weight),
        use_group_scoring=_flag(ext, "use_group_scoring"),
        scan_depth=found.scan_depth if found.scan_depth is not None else _number(ext, "scan_depth"),
        exclude_recursion=bool(_flag(ext, "exclude_recursion")) or not book.recursive_scanning,
        prevent_recursion=bool(_flag(ext, "prevent_recursion")),
        delay_until_recursion=delay_level,
        sticky=max(0, _number(ext, "sticky") or 0),
        cooldown=max(0, _number(ext, "cooldown") or 0),
        delay=max(0, _number(ext, "delay") or 0),
        vectorized=bool(_flag(ext, "vectorized")),
        ignore_budget=bool(_flag(ext, "ignore_budget")),
        book_budget=book.token_budget if book.token_budget and book.token_budget > 0 else None,
        decorators=found,
        additional=keys(found.additional_keys),
        excluded=keys(found.exclude_keys),
    )


class CompiledBooks:
    """A bounded cache of compiled books."""

    def __init__(self, size: int = BOOK_CACHE_SIZE) -> None:
        self._books: OrderedDict[tuple[Any, ...], list[CompiledEntry]] = OrderedDict()
        self._size = size

    @staticmethod
    def key(
        book_id: str, updated_at: str, source: str, settings: LoreSettings, char: str, user: str
    ) -> tuple[Any, ...]:
        return (book_id, updated_at, source, settings.case_sensitive, settings.match_whole_words, char, user)

    def get(self, key: tuple[Any, ...]) -> list[CompiledEntry] | None:
        found = self._books.get(key)
        if found is not None:
            self._books.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], entries: list[CompiledEntry]) -> None:
        self._books[key] = entries
        if len(self._books) > self._size:
            self._books.popitem(last=False)


def compile_book(book: Lorebook, source: str, settings: LoreSettings, char: str, user: str) -> list[CompiledEntry]:
    return [
        compile_entry(entry, book, source, settings, char, user)
        for entry in book.entries
        if entry.enabled  # disabled entries never match, in any case (V3)
    ]
