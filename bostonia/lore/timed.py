"""Timed effects (sticky, cooldown, delay) and match memory, per chat, as SillyTavern keeps them.

Time is the chat's length: the number of messages on the path the reply answers (greeting included),
like SillyTavern's `chat.length`. An effect set at length L for N messages lasts while L <= length < L+N.

- **sticky N**: once activated, the entry stays active for N messages whatever the keys say;
- **cooldown N**: once activated, it cannot activate for N messages; when a sticky entry with a cooldown
  stops being sticky, its cooldown starts then (and a sticky entry is never held back by its cooldown);
- **delay N**: it cannot activate until the chat has N messages (no state needed).

A regenerated reply (a swipe) answers the same length again: effects that the previous attempt at this
length started are dropped before the scan, so the new attempt decides afresh ("chat not advanced").
Effects set by a sticky ending are *protected* from that, as in SillyTavern.

`matched` rows remember that an entry fired before, for the V3 `@@keep_activate_after_match` and
`@@dont_activate_after_match` decorators; the same "not advanced" rule applies to them.

This module only computes; the injector writes `changes` once the reply is stored (a prompt preview
or a cache warm-up must not start a cooldown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from bostonia.lore.compiled import CompiledEntry

FOREVER = 2**62


class EntryState(msgspec.Struct, kw_only=True, frozen=True):
    entry_id: str
    kind: str  # sticky | cooldown | matched
    start: int
    end: int
    protected: bool = False


class TimedEffects:
    def __init__(self, chat_length: int, entries: Mapping[str, CompiledEntry], stored: Iterable[EntryState]) -> None:
        self.length = chat_length
        self.entries = entries
        self.state: dict[tuple[str, str], EntryState] = {(s.entry_id, s.kind): s for s in stored}
        # What to write when the reply is stored: a state, or None to delete it.
        self.changes: dict[tuple[str, str], EntryState | None] = {}
        self.sticky: set[str] = set()
        self.cooldown: set[str] = set()
        self.matched: set[str] = set()
        self._check()
        self.busy = self.sticky | self.cooldown | self.matched  # entries with any state this turn

    def _set(self, key: tuple[str, str], value: EntryState | None) -> None:
        self.changes[key] = value
        if value is None:
            self.state.pop(key, None)
        else:
            self.state[key] = value

    def _effect(self, entry: CompiledEntry, kind: str, length: int, protected: bool = False) -> EntryState:
        span = {"sticky": entry.sticky, "cooldown": entry.cooldown}.get(kind, FOREVER - self.length)
        return EntryState(entry_id=entry.id, kind=kind, start=self.length, end=self.length + span, protected=protected)

    def _check(self) -> None:
        for kind, active in (("sticky", self.sticky), ("cooldown", self.cooldown), ("matched", self.matched)):
            for key, effect in [item for item in self.state.items() if item[0][1] == kind]:
                entry = self.entries.get(effect.entry_id)
                if self.length <= effect.start and not effect.protected:
                    self._set(key, None)  # set by an earlier attempt at this same turn
                    continue
                if entry is None:  # from a book that does not apply now (kept until it would end)
                    if self.length >= effect.end:
                        self._set(key, None)
                    continue
                if kind != "matched" and not getattr(entry, kind):
                    self._set(key, None)  # the entry no longer has this effect
                    continue
                if self.length >= effect.end:
                    self._set(key, None)
                    if kind == "sticky" and entry.cooldown:
                        cooldown = self._effect(entry, "cooldown", self.length, protected=True)
                        self._set((entry.id, "cooldown"), cooldown)
                    continue
                active.add(effect.entry_id)

    def delayed(self, entry: CompiledEntry) -> bool:
        return bool(entry.delay) and self.length < entry.delay

    def finish(self, activated: Iterable[CompiledEntry]) -> None:
        """Start the effects of the entries this turn activated (kept if already running)."""
        for entry in activated:
            for kind in ("sticky", "cooldown"):
                if getattr(entry, kind) and (entry.id, kind) not in self.state:
                    self._set((entry.id, kind), self._effect(entry, kind, self.length))
            remembers = entry.decorators.keep_activate_after_match or entry.decorators.dont_activate_after_match
            if remembers and (entry.id, "matched") not in self.state:
                self._set((entry.id, "matched"), self._effect(entry, "matched", self.length))
