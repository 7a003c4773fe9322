"""World Info activation: which entries of the books that apply to a chat go into the next prompt, and why.

`scan` follows SillyTavern's `checkWorldInfo` loop (see /work/shared/SPECS.md and SillyTavern's World
Info documentation), with the V3 decorators added:

1. the entries of every applicable book, sorted: chat lore, persona lore, then character and global lore
   by the insertion strategy (character first by default), each by `insertion_order`, highest first;
2. a scan step looks at each entry not yet activated: disabled, delayed (`delay`), on cooldown (unless
   sticky), held for recursion (`delay_until_recursion`) or excluded from it, or gated by a decorator
   (`@@activate_only_after`, `@@activate_only_every`, `@@is_greeting`, `@@dont_activate_after_match`)
   means no; `@@activate`, constant, sticky, `@@keep_activate_after_match` or a vector match means yes;
   otherwise a primary key must be found in the last `scan_depth` messages (the entry's own scan depth,
   else the user's setting) plus, in recursion steps, the content of the entries activated so far;
   then the secondary keys' logic (AND ANY, NOT ALL, NOT ANY, AND ALL) and `@@additional_keys` /
   `@@exclude_keys` must agree;
3. the step's candidates go through inclusion groups (groups.py), then probability (a roll seeded by
   conversation and turn, so a re-rendered prompt is the same; sticky entries do not re-roll), then the
   token budget (budget.py);
4. if anything new fired (and it does not prevent recursion), recursion scans again with its content;
   if too few entries fired for `min_activations`, the scan widens by one message; entries delayed until
   a recursion level get their turn once the rest is done; `max_recursion_steps` bounds the loop.

Timed effects and match memory come in from, and go back to, `timed.TimedEffects`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bostonia.lore.budget import Budget
from bostonia.lore.compiled import CompiledEntry
from bostonia.lore.groups import filter_groups, seeded_fraction
from bostonia.lore.matching import Key, ScanText
from bostonia.lore.schemas import FiredEntry, LoreSettings
from bostonia.lore.timed import EntryState, TimedEffects

NONE, INITIAL, RECURSION, MIN_ACTIVATIONS = 0, 1, 2, 3
JOINER = "\n\x01"  # between scanned texts: no key can match across two messages
MAX_SCAN_STEPS = 200  # each step activates something new, so this is only a bound on hostile books
AND_ANY, NOT_ALL, NOT_ANY, AND_ALL = 0, 1, 2, 3


@dataclass(slots=True)
class Why:
    reason: str
    why: str
    key: str | None = None
    similarity: float | None = None
    from_entry: str | None = None


@dataclass
class ScanResult:
    activated: list[tuple[CompiledEntry, Why]]
    dropped: dict[str, str]  # entry id -> why it was left out after it matched
    timed: TimedEffects
    steps: int = 0
    room: int = 0  # the most these books could put in the prompt (`Budget.most`), in estimated tokens

    def fired(self) -> list[FiredEntry]:
        return [
            FiredEntry(
                entry_id=entry.id,
                book_id=entry.book_id,
                book=entry.book_name,
                source=entry.source,
                title=entry.title,
                reason=why.reason,
                why=why.why,
                key=why.key,
                similarity=why.similarity,
                from_entry=why.from_entry,
                tokens=entry.tokens,
            )
            for entry, why in self.activated
        ]


@dataclass
class ScanContext:
    """Everything one scan reads besides the entries."""

    messages: Sequence[str]  # newest first
    settings: LoreSettings
    chat_length: int  # messages on the path, greeting included
    assistant_messages: int
    seed: str
    context_tokens: int
    greeting_index: int | None = None
    state: Sequence[EntryState] = ()
    vector_hits: dict[str, float] = field(default_factory=dict)


def _where(index: int) -> str:
    return "the latest message" if index == 0 else f"message {index + 1} from the end"


class _Buffer:
    """The scanned texts of one scan: message windows by depth, plus the recursion buffer."""

    def __init__(self, messages: Sequence[str], settings: LoreSettings) -> None:
        self.messages = [m.strip() for m in messages]
        self.settings = settings
        self.skew = 0
        self.recursion: list[tuple[CompiledEntry, str]] = []
        self._texts: dict[tuple[int, bool], ScanText] = {}

    def depth_for(self, entry: CompiledEntry) -> int:
        return entry.scan_depth if entry.scan_depth is not None else self.settings.scan_depth + self.skew

    def text(self, entry: CompiledEntry, state: int) -> ScanText:
        depth = self.depth_for(entry)
        with_recursion = state != MIN_ACTIVATIONS and bool(self.recursion)
        found = self._texts.get((depth, with_recursion))
        if found is None:
            parts = self.messages[:depth]
            if with_recursion:
                parts = [*parts, *(content for _, content in self.recursion)]
            found = self._texts[(depth, with_recursion)] = ScanText(JOINER + JOINER.join(parts), parts, JOINER)
        return found

    def add_recursion(self, entries: list[CompiledEntry]) -> None:
        self.recursion += [(entry, entry.content) for entry in entries if entry.content]
        self._texts = {key: text for key, text in self._texts.items() if not key[1]}

    def explain(self, entry: CompiledEntry, key: Key, state: int) -> Why:
        """Where the matched key was found: a message of the window, or an activated entry's content (one
        search of the scanned text, then the part that position falls in)."""
        scan = self.text(entry, state)
        found = key.locate(scan)
        if found is None:
            return Why("key", f"key '{key.text}'", key=key.text)
        index = scan.part_at(*found)
        window = min(self.depth_for(entry), len(self.messages))
        if index < window:
            widened = " (scan widened for min activations)" if index >= self.settings.scan_depth else ""
            return Why("key", f"key '{key.text}' in {_where(index)}{widened}", key=key.text)
        source = self.recursion[min(index - window, len(self.recursion) - 1)][0]
        return Why(
            "recursion", f"key '{key.text}' in the content of '{source.title}'", key=key.text, from_entry=source.id
        )


def _secondary_ok(entry: CompiledEntry, scan: ScanText) -> bool:
    if not entry.secondary:
        return True
    hits = [key.matches(scan) for key in entry.secondary]
    if entry.logic == NOT_ALL:
        return not all(hits)
    if entry.logic == NOT_ANY:
        return not any(hits)
    if entry.logic == AND_ALL:
        return all(hits)
    return any(hits)


def _score(entry: CompiledEntry, scan: ScanText) -> int:
    """Matching keys, for group scoring: 1 per primary key; AND ANY adds each secondary one found, AND
    ALL adds them all when all are found."""
    primary = sum(1 for key in entry.keys if key.matches(scan))
    if not entry.keys:
        return 0
    secondary = sum(1 for key in entry.secondary if key.matches(scan))
    if entry.secondary and entry.logic == AND_ANY:
        return primary + secondary
    if entry.secondary and entry.logic == AND_ALL and secondary == len(entry.secondary):
        return primary + secondary
    return primary


def _candidate(
    entry: CompiledEntry, buffer: _Buffer, state: int, ctx: ScanContext, timed: TimedEffects, level: int
) -> Why | None:
    """Why `entry` fires in this step, or None."""
    if entry.simple and not ctx.vector_hits and entry.id not in timed.busy:
        if state == RECURSION and ctx.settings.recursive and entry.exclude_recursion:
            return None
        return _by_keys(entry, buffer, state)  # the common case: no decorators, timers or constant flag
    sticky = entry.id in timed.sticky
    if timed.delayed(entry):
        return None
    if entry.id in timed.cooldown and not sticky:
        return None
    if not sticky:
        if state != RECURSION and entry.delay_until_recursion:
            return None
        if state == RECURSION and entry.delay_until_recursion > level:
            return None
        if state == RECURSION and ctx.settings.recursive and entry.exclude_recursion:
            return None
    marks = entry.decorators
    if marks.activate:
        return Why("decorator", "@@activate")
    if marks.activate_only_after is not None and ctx.assistant_messages < marks.activate_only_after:
        return None
    if marks.activate_only_every and ctx.assistant_messages % marks.activate_only_every:
        return None
    if marks.is_greeting is not None and ctx.greeting_index is not None and ctx.greeting_index != marks.is_greeting:
        return None
    if marks.dont_activate_after_match and entry.id in timed.matched:
        return None
    if marks.dont_activate:
        return None
    if entry.constant:
        return Why("constant", "constant (always on)")
    if sticky:
        return Why("sticky", f"sticky: still active from an earlier turn (sticky {entry.sticky})")
    if marks.keep_activate_after_match and entry.id in timed.matched:
        return Why("decorator", "@@keep_activate_after_match: it matched before")
    similarity = ctx.vector_hits.get(entry.id)
    if similarity is not None and state == INITIAL:
        return Why("vector", f"close to the recent chat (similarity {similarity:.2f})", similarity=similarity)
    return _by_keys(entry, buffer, state)


def _by_keys(entry: CompiledEntry, buffer: _Buffer, state: int) -> Why | None:
    if not entry.keys:
        return None
    scan = buffer.text(entry, state)
    for key in entry.keys:
        if key.matches(scan):
            break
    else:
        return None
    if not _secondary_ok(entry, scan):
        return None
    if entry.additional and not any(k.matches(scan) for k in entry.additional):
        return None
    if entry.excluded and any(k.matches(scan) for k in entry.excluded):
        return None
    return buffer.explain(entry, key, state)


def scan(entries: Sequence[CompiledEntry], ctx: ScanContext) -> ScanResult:
    """The entries that go into the prompt, in activation order, each with why it fired."""
    settings = ctx.settings
    timed = TimedEffects(ctx.chat_length, {entry.id: entry for entry in entries}, ctx.state)
    buffer = _Buffer(ctx.messages, settings)
    budget = Budget(ctx.context_tokens, settings.budget_percent, settings.budget_cap)
    levels = sorted({entry.delay_until_recursion for entry in entries if entry.delay_until_recursion})
    level = levels.pop(0) if levels else 0
    position = {entry.id: index for index, entry in enumerate(entries)}
    activated: dict[str, tuple[CompiledEntry, Why]] = {}
    failed: set[str] = set()
    dropped: dict[str, str] = {}
    state, steps = INITIAL, 0
    while state:
        if (settings.max_recursion_steps and steps >= settings.max_recursion_steps) or steps >= MAX_SCAN_STEPS:
            break
        steps += 1
        reasons: dict[str, Why] = {}
        for entry in entries:
            if entry.id in activated or entry.id in failed:
                continue
            why = _candidate(entry, buffer, state, ctx, timed, level)
            if why is not None:
                reasons[entry.id] = why
        new = sorted(
            (entry for entry in entries if entry.id in reasons),
            key=lambda e: (e.id not in timed.sticky, position[e.id]),
        )

        def score(entry: CompiledEntry, step: int = state) -> int:
            return _score(entry, buffer.text(entry, step))

        new = filter_groups(
            new,
            [entry for entry, _ in activated.values()],
            is_sticky=lambda e: e.id in timed.sticky,
            score=score,
            group_scoring=settings.use_group_scoring,
            seed=ctx.seed,
            dropped=dropped,
        )
        admitted: list[CompiledEntry] = []
        for entry in new:
            rolls = entry.use_probability and entry.probability < 100 and entry.id not in timed.sticky
            if rolls and seeded_fraction(ctx.seed, "probability", entry.id) * 100 >= entry.probability:
                failed.add(entry.id)
                dropped[entry.id] = f"lost its {entry.probability}% probability roll"
                continue
            refused = budget.admit(entry)
            if refused is not None:
                dropped[entry.id] = refused
                continue
            activated[entry.id] = (entry, reasons[entry.id])
            admitted.append(entry)
        recursing = [entry for entry in admitted if not entry.prevent_recursion]
        next_state = NONE
        if settings.recursive and not budget.overflowed and recursing:
            next_state = RECURSION
        if settings.recursive and not budget.overflowed and state == MIN_ACTIVATIONS and buffer.recursion:
            next_state = RECURSION
        if not next_state and not budget.overflowed and len(activated) < settings.min_activations:
            wider = settings.scan_depth + buffer.skew + 1  # the depth the next step would scan
            too_deep = settings.min_activations_depth_max > 0 and wider > settings.min_activations_depth_max
            if not too_deep and wider <= len(buffer.messages):
                next_state = MIN_ACTIVATIONS
                buffer.skew += 1
        if not next_state and levels:
            next_state, level = RECURSION, levels.pop(0)
        if next_state:
            buffer.add_recursion(recursing)
        state = next_state
    chosen = list(activated.values())
    timed.finish(entry for entry, _ in chosen)
    return ScanResult(activated=chosen, dropped=dropped, timed=timed, steps=steps, room=budget.most(entries))
