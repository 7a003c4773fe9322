"""Who speaks next in a group chat: the strategies, and the small parsers around them (pure logic).

SillyTavern's group chats are the reference, with one difference: each person's message gets one reply
(the characters go on among themselves only in auto-mode), so a strategy names one speaker per turn.

- *natural*: a character named in the message being answered speaks first (the first one named); else
  each member, in random order, speaks up with the chance of its talkativeness (the card's
  `extensions.talkativeness`, 0-1, unless the group overrides it); else a random member.
- *list*: the members take turns in list order (the one after the last to speak).
- *pooled*: a random member who has not spoken since a person last did (any member once all have).
- *manual*: nobody speaks unless asked: the person picks (force talk) or writes `/trigger [name]`.

Muted members are never picked, only asked. Unless the group allows self-responses, a character does
not answer its own message: in auto-mode the last speaker sits out its next turn.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bostonia.chat.schemas import Member, Message, Strategy

DEFAULT_TALKATIVENESS = 0.5
TRIGGER_RE = re.compile(r"^/trigger(?:\s+(?P<name>.*\S))?\s*$", re.IGNORECASE | re.DOTALL)
OOC_RE = re.compile(r"^\s*\(\(.*\)\)\s*$", re.DOTALL)
WORD_RE = re.compile(r"\w+", re.UNICODE)


def talkativeness_of(value: object) -> float:
    """A card's talkativeness as a chance 0-1. Cards write it as a number or a string ("0.5"); a value
    above 1 is read as a percentage; anything unreadable is the default."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TALKATIVENESS
    try:
        number = float(value) if isinstance(value, int | float | str) else DEFAULT_TALKATIVENESS
    except ValueError:
        return DEFAULT_TALKATIVENESS
    if number != number or number < 0:  # NaN or negative
        return DEFAULT_TALKATIVENESS
    if number > 1:
        number = number / 100 if number <= 100 else 1.0
    return number


def is_out_of_character(text: str) -> bool:
    """`(( like this ))`: said to the other people, not to the characters."""
    return bool(OOC_RE.match(text))


@dataclass(frozen=True)
class TriggerCommand:
    name: str | None  # who should speak; None: whoever the strategy picks (manual: a random member)


def trigger_command(text: str) -> TriggerCommand | None:
    """`/trigger` or `/trigger Name` typed as a message: make a character speak now, store nothing."""
    match = TRIGGER_RE.match(text.strip())
    return TriggerCommand(match.group("name")) if match else None


def words(text: str) -> list[str]:
    return [word.lower() for word in WORD_RE.findall(text)]


def mentioned(members: Sequence[Member], text: str) -> list[str]:
    """Members named in `text` (any word of their name), in the order they are first named."""
    order: list[str] = []
    said = words(text)
    for word in said:
        for member in members:
            if member.character_id not in order and word in words(member.name):
                order.append(member.character_id)
                break
    return order


def find_member(members: Sequence[Member], name: str) -> Member | None:
    """The member `name` means: its id, its whole name, else the only member one of whose name's words it is."""
    wanted = name.strip().lower()
    for member in members:
        if wanted in (member.character_id.lower(), member.name.lower()):
            return member
    matches = [member for member in members if wanted in words(member.name)]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class TurnContext:
    """What a strategy looks at: the message the turn answers and who spoke recently."""

    text: str  # the last message shown to the model (its mentions count)
    last_speaker: str | None  # the character who said it (None: a person did)
    spoken_since_person: frozenset[str]  # characters who spoke since a person last wrote
    replies_since_person: int  # characters' replies since then (auto-mode counts them)
    last_character: str | None = None  # the character who spoke last, before or after a person wrote


def turn_context(history: Sequence[Message]) -> TurnContext:
    """The context of the next turn after `history` (oldest first); out-of-character lines do not count."""
    spoken: list[str] = []
    text, last_speaker, last_character = "", None, None
    person_seen = False
    for message in reversed(history):
        if message.ooc or message.role == "system":
            continue
        if not text:
            text = message.content
            last_speaker = message.character_id if message.role == "assistant" else None
        if message.role == "assistant" and message.character_id and last_character is None:
            last_character = message.character_id
        if message.role == "user":
            person_seen = True
        elif message.character_id and not person_seen:
            spoken.append(message.character_id)
        if person_seen and last_character is not None:
            break
    return TurnContext(text, last_speaker, frozenset(spoken), len(spoken), last_character)


def pick_speaker(
    strategy: Strategy,
    members: Sequence[Member],
    context: TurnContext,
    *,
    allow_self_responses: bool,
    rng: random.Random | None = None,
) -> str | None:
    """The character who speaks next, or None when nobody does (manual, or every member muted)."""
    rng = rng or random.Random()
    candidates = [m for m in members if not m.muted]
    if not allow_self_responses and context.last_speaker is not None and len(candidates) > 1:
        candidates = [m for m in candidates if m.character_id != context.last_speaker]
    if not candidates or strategy == "manual":
        return None
    if strategy == "list":
        return _next_in_list(members, candidates, context.last_character)
    if strategy == "pooled":
        fresh = [m for m in candidates if m.character_id not in context.spoken_since_person]
        return rng.choice(fresh or candidates).character_id
    named = mentioned(candidates, context.text)
    if named:
        return named[0]
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    for member in shuffled:
        if rng.random() < member.talkativeness:
            return member.character_id
    return rng.choice(candidates).character_id


def _next_in_list(members: Sequence[Member], candidates: Sequence[Member], after: str | None) -> str:
    ids = [m.character_id for m in members]
    allowed = {m.character_id for m in candidates}
    start = ids.index(after) + 1 if after in ids else 0
    for offset in range(len(ids)):
        character_id = ids[(start + offset) % len(ids)]
        if character_id in allowed:
            return character_id
    return candidates[0].character_id


def likely_speaker(strategy: Strategy, members: Sequence[Member], context: TurnContext) -> str | None:
    """A guess at the next speaker without rolling dice (which prompt to prepare while people type): list
    order is exact; otherwise the most talkative member who did not just speak."""
    candidates = [m for m in members if not m.muted and m.character_id != context.last_speaker]
    candidates = candidates or [m for m in members if not m.muted] or list(members)
    if not candidates:
        return None
    if strategy == "list":
        return _next_in_list(members, candidates, context.last_character)
    return max(candidates, key=lambda m: m.talkativeness).character_id
