"""Inclusion groups: of the entries of one group that fire in the same scan step, only one goes in.

SillyTavern's rules, in order, for each group among the newly activated entries:
1. if any of them is sticky, only the sticky ones stay (and the group is settled);
2. with group scoring (per entry, else the user's setting), only the entries with the most matching keys
   stay (1 point per primary key found; AND ANY adds 1 per secondary key found, AND ALL adds them all if
   all are found);
3. if an entry of the group was already activated in an earlier step, all of them drop out;
4. a single entry left simply stays;
5. entries with "prioritize" (`group_override`) win by highest order;
6. otherwise one is drawn at random, weighted by `group_weight` (default 100).

An entry can be in several groups (a comma-separated list); winning in one group does not save it from
losing in another. The draw is seeded per conversation and turn, so a re-rendered prompt picks the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from bostonia.lore.compiled import CompiledEntry


def seeded_fraction(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`: the same conversation and turn always roll the same."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def filter_groups(
    new: list[CompiledEntry],
    already: list[CompiledEntry],
    *,
    is_sticky: Callable[[CompiledEntry], bool],
    score: Callable[[CompiledEntry], int],
    group_scoring: bool,
    seed: str,
    dropped: dict[str, str],
) -> list[CompiledEntry]:
    """`new` without the group losers (their ids go to `dropped` with the reason)."""
    groups: dict[str, list[CompiledEntry]] = {}
    for entry in new:
        for group in entry.groups:
            groups.setdefault(group, []).append(entry)
    if not groups:
        return new
    losers: set[str] = set()

    def lose(entry: CompiledEntry, why: str) -> None:
        if entry.id not in losers:
            losers.add(entry.id)
            dropped[entry.id] = why

    taken = {group for entry in already for group in entry.groups}
    for name, members in groups.items():
        sticky = [e for e in members if is_sticky(e)]
        if sticky:
            for entry in members:
                if entry not in sticky:
                    lose(entry, f"inclusion group '{name}': a sticky entry holds it")
            continue
        if group_scoring or any(e.use_group_scoring for e in members):
            scores = {e.id: score(e) for e in members}
            best = max(scores.values())
            for entry in list(members):
                scored = entry.use_group_scoring if entry.use_group_scoring is not None else group_scoring
                if scored and scores[entry.id] < best:
                    lose(entry, f"inclusion group '{name}': fewer matching keys ({scores[entry.id]} < {best})")
                    members.remove(entry)
        if name in taken:
            for entry in members:
                lose(entry, f"inclusion group '{name}' already filled earlier in this scan")
            continue
        if len(members) <= 1:
            continue
        prioritized = sorted((e for e in members if e.group_override), key=lambda e: -e.order)
        if prioritized:
            winner = prioritized[0]
            why = f"inclusion group '{name}': '{winner.title}' has priority"
        else:
            total = sum(e.group_weight for e in members)
            roll = seeded_fraction(seed, "group", name) * total
            winner, running = members[0], 0
            for entry in members:
                running += entry.group_weight
                if roll <= running:
                    winner = entry
                    break
            why = f"inclusion group '{name}': '{winner.title}' won the weighted draw"
        for entry in members:
            if entry is not winner:
                lose(entry, why)
    return [entry for entry in new if entry.id not in losers]
