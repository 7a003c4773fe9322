"""How recall ranks: reading a query (words, who it is about, when) and fusing vector and BM25 evidence.

Pure functions, no I/O: the service fetches candidates (vector top-N, BM25 top-N, their neighbours) and
this module scores them. The fused score of a document is

    0.7 · vector similarity (min-max scaled over the candidates) + 0.3 · BM25 (scaled the same way)
    + 0.3 · the best fused score of its neighbouring turns (an answer is often the turn after the
      question that names the topic: "What did you name him?" — "Biscuit!")
    + bonuses: the speaker the query is about (a name, or "I/my" for the user), the time the query names
      ("in May", "last week"), importance and pinning of extracted memories, a little recency.

The weights were chosen on the benchmark set in `benchmarks/memory_set.py` and kept round: the vector
side leads because small talk defeats BM25 more often than the reverse, and fusion is min-max on each
side so that neither scale dominates.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

VECTOR_WEIGHT = 0.7
NEIGHBOUR_WEIGHT = 0.3
# A question about someone ("my dog", "Mira's ship") is answered by what they said: the character's reply to a
# user's "we named him Biscuit" is worded nearer the question and borrows the telling's score as its neighbour,
# and at 0.1 it won (the reply block then showed a small model's guess, not the fact). 0.3 also measured best
# on the benchmark set: recall@5 0.699 -> 0.712, @10 0.808 -> 0.821.
SPEAKER_BONUS = 0.3
TIME_BONUS = 0.2
IMPORTANCE_BONUS = 0.1  # × (importance − 0.5), for extracted memories
PINNED_BONUS = 0.15
RECENCY_BONUS = 0.05
RECENCY_HALF_LIFE_DAYS = 90

# Function words and question scaffolding: BM25 on them ranks by small talk.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    ever remember recall tell know anything something thing things also really still s t d ll m re ve""".split()
)
WORD = re.compile(r"\w+", re.UNICODE)
FIRST_PERSON = re.compile(r"\b(i|me|my|mine|myself|i'm|i've|i'd|we|our|us)\b", re.IGNORECASE)
SECOND_PERSON = re.compile(r"\b(you|your|yours|yourself|you're|you've)\b", re.IGNORECASE)
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name and name != "May"})
WEEKDAYS = {name.lower(): number for number, name in enumerate(calendar.day_name)}
UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "few": 3, "couple": 2}


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[str, ...]  # for BM25
    speaker: str | None  # "user" | "assistant" | None: whose turns the query is about
    window: TimeWindow | None


def terms_of(text: str) -> list[str]:
    words = [w.lower() for w in WORD.findall(text)]
    kept = [w for w in words if w not in STOP_WORDS and not (len(w) == 1 and not w.isdigit())]
    return list(dict.fromkeys(kept))


def fts_match(terms: Sequence[str]) -> str | None:
    """An FTS5 expression matching any of the terms (quoted: user text never becomes FTS syntax)."""
    quoted = [f'"{term}"' for term in terms if term]
    return " OR ".join(quoted) if quoted else None


def parse_time(text: str, now: datetime) -> TimeWindow | None:
    """The period a query names, relative to `now`: "yesterday", "last week", "3 days ago", "in May",
    "in March 2026", "on Tuesday", "last month", "this year". None when it names none."""
    lowered = text.lower()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if re.search(r"\b(today|tonight|this morning|this evening)\b", lowered):
        return TimeWindow(day, day + timedelta(days=1))
    if re.search(r"\b(yesterday|last night)\b", lowered):
        return TimeWindow(day - timedelta(days=1), day)
    found = re.search(
        r"\b(\d+|a|an|one|two|three|four|five|six|few|couple)\s+(?:of\s+)?(day|week|month|year)s?\s+ago", lowered
    )
    if found:
        count = int(found.group(1)) if found.group(1).isdigit() else NUMBERS[found.group(1)]
        span = UNITS[found.group(2)]
        centre = day - timedelta(days=count * span)
        slack = timedelta(days=max(1, span * count // 2))
        return TimeWindow(centre - slack, centre + slack + timedelta(days=1))
    found = re.search(r"\b(last|this|past)\s+(week|weekend|month|year)\b", lowered)
    if found:
        which, unit = found.groups()
        if unit == "weekend":
            saturday = day - timedelta(days=(day.weekday() - 5) % 7 or 7)
            return TimeWindow(saturday, saturday + timedelta(days=2))
        length = timedelta(days=UNITS[unit])
        if which == "this":
            return TimeWindow(day - length, day + timedelta(days=1))
        return TimeWindow(day - 2 * length, day)
    for name, number in MONTHS.items():
        found = re.search(rf"\b(?:in|during|of|since|back in|early|late|mid)\s+{name}\b\.?(?:\s+(\d{{4}}))?", lowered)
        if found:
            year = int(found.group(1)) if found.group(1) else now.year - (1 if number > now.month else 0)
            start = datetime(year, number, 1, tzinfo=now.tzinfo)
            end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=now.tzinfo)
            return TimeWindow(start, end)
    found = re.search(r"\b(?:on|last)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", lowered)
    if found:
        back = (day.weekday() - WEEKDAYS[found.group(1)]) % 7 or 7
        moment = day - timedelta(days=back)
        return TimeWindow(moment, moment + timedelta(days=1))
    return None


def read_query(text: str, *, now: datetime, user_name: str = "", character_name: str = "") -> Query:
    speaker = None
    lowered = f" {text.lower()} "
    names = {"user": user_name.strip().lower(), "assistant": character_name.strip().lower()}
    named = [role for role, name in names.items() if name and re.search(rf"\b{re.escape(name)}\b", lowered)]
    if len(named) == 1:
        speaker = named[0]
    elif not named and FIRST_PERSON.search(text):
        speaker = "user"
    elif not named and SECOND_PERSON.search(text):
        speaker = "assistant"
    return Query(text=text, terms=tuple(terms_of(text)), speaker=speaker, window=parse_time(text, now))


def parse_stamp(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    """What fusion needs to know of a document."""

    id: int
    kind: str
    role: str | None
    created_at: str
    importance: float = 0.5
    pinned: bool = False


def _scaled(scores: Mapping[int, float]) -> dict[int, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-9:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def fuse(
    query: Query,
    vector: Mapping[int, float],
    lexical: Mapping[int, float],
    candidates: Mapping[int, Candidate],
    neighbours: Mapping[int, Sequence[int]],
    *,
    now: datetime,
) -> list[tuple[int, float]]:
    """Every candidate with its fused score, best first."""
    v, b = _scaled(vector), _scaled(lexical)
    base = {i: VECTOR_WEIGHT * v.get(i, 0.0) + (1 - VECTOR_WEIGHT) * b.get(i, 0.0) for i in candidates}
    scores: dict[int, float] = {}
    for i, candidate in candidates.items():
        score = base[i] + NEIGHBOUR_WEIGHT * max((base.get(n, 0.0) for n in neighbours.get(i, ())), default=0.0)
        if query.speaker is not None and candidate.role == query.speaker:
            score += SPEAKER_BONUS
        moment = parse_stamp(candidate.created_at)
        if moment is not None:
            if query.window is not None and query.window.contains(moment):
                score += TIME_BONUS
            age_days = max(0.0, (now - moment).total_seconds() / 86400)
            score += RECENCY_BONUS * math.exp(-age_days * math.log(2) / RECENCY_HALF_LIFE_DAYS)
        if candidate.kind == "memory":
            score += IMPORTANCE_BONUS * (candidate.importance - 0.5) + (PINNED_BONUS if candidate.pinned else 0.0)
        scores[i] = score
    return sorted(scores.items(), key=lambda item: (-item[1], -item[0]))
