"""Keeping only what the messages say: a check of each extracted memory against its source messages.

Small models write fluent, valid JSON with wrong content — "I love spiders" from "I hate spiders", a
sister called Anna who was never mentioned, "30" from "thirteen". A memory is kept only if

1. its content words are found in the source (most of them: paraphrase is allowed, invention is not),
2. every name and number in it appears in the source,
3. the source sentence it rests on has the same polarity: no negation or opposite feeling word
   ("hate" for "love", "never" for "always", "can't" for "can") on one side only.

Word matching is by stem-like prefixes (the first five letters), so "adopted" finds "adopting".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bostonia.memory.retrieval import STOP_WORDS

WORD = re.compile(r"[A-Za-z0-9']+")
# Clauses: a negation belongs to its own ("I don't eat meat, I've been vegetarian for years").
CLAUSE = re.compile(r"[.!?;,]+\s*|\n+|\s+(?:but|although|though|while)\s+", re.IGNORECASE)
NEGATIONS = frozenset({"not", "no", "never", "nobody", "nothing", "neither", "nor", "without", "none", "cannot"})
POSITIVE = frozenset(
    """love loves loved loving like likes liked enjoy enjoys enjoyed adore adores adored favourite favorite
    prefer prefers preferred want wants wanted happy glad fond great best always can""".split()
)
NEGATIVE = frozenset(
    """hate hates hated hating dislike dislikes disliked despise despises loathe loathes detest afraid scared
    terrified fear fears allergic worst sad unhappy""".split()
)
# Words a memory may add without support: its scaffolding ("the user likes ...") and speaker references.
SCAFFOLD = frozenset(
    """user character assistant person someone they them their says said mentioned mentions told tells
    likes like has have had is was are were named called""".split()
)
MIN_SUPPORT = 0.6  # share of a memory's content words that must be in the source


def words(text: str) -> list[str]:
    return [w.lower().strip("'") for w in WORD.findall(text) if w.strip("'")]


NUMBER_WORDS = {
    name: str(value)
    for value, name in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
        " seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS.update(
    {
        name: str(value)
        for value, name in enumerate(
            "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
        )
    }
)
SUFFIXES = ("ing", "ied", "ies", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    word = word.lower().replace("'", "")
    word = NUMBER_WORDS.get(word, word)
    if word == "cannot":
        word = "cant"
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):  # "hate"/"hated", "live"/"lives"
        word = word[:-1]
    return word[:5]


def polarity(text: str) -> tuple[int, bool]:
    """(+1 / -1 / 0, negated): whether a sentence says something positive or negative about its subject,
    a negation flipping it ("don't like" is negative, "not afraid" positive), and whether it is negated."""
    tokens = words(text)
    negated = sum(1 for t in tokens if t in NEGATIONS or t.endswith("n't")) % 2 == 1
    score = sum(1 for t in tokens if t in POSITIVE) - sum(1 for t in tokens if t in NEGATIVE)
    sign = (score > 0) - (score < 0)
    if negated:
        sign = -sign if sign else -1
    return sign, negated


def opposite(source: str, memory: str) -> bool:
    """The memory says the opposite of the source sentence: opposite feelings ("love" for "hate"), or a
    negation on one side only where the other has no feeling word to carry it ("eats meat" for "I don't
    eat meat"; but "dislikes X" for "doesn't like X" is the same)."""
    (source_sign, source_negated), (memory_sign, memory_negated) = polarity(source), polarity(memory)
    if source_sign * memory_sign < 0:
        return True
    return source_negated != memory_negated and (source_sign == 0 or memory_sign == 0)


@dataclass(frozen=True)
class Verdict:
    kept: bool
    reason: str
    support: float  # share of content words found in the source


def check(memory: str, sources: Sequence[str], *, names: Sequence[str] = ()) -> Verdict:
    """Whether `memory` is supported by `sources` (the message texts it cites). `names` (the user's and
    the character's) may appear in a memory without being in the source: the memory is about them."""
    source_text = "\n".join(sources)
    source_stems = {stem(w) for w in words(source_text)}
    allowed = {stem(n) for name in names for n in words(name)}
    content = [
        w
        for w in words(memory)
        if w not in STOP_WORDS
        and w not in SCAFFOLD
        and w not in NEGATIONS
        and not w.endswith("n't")
        and stem(w) not in allowed
    ]
    if not content:
        return Verdict(False, "says nothing", 0.0)
    found = [w for w in content if stem(w) in source_stems]
    support = len(found) / len(content)
    for token in WORD.findall(memory):
        is_number = any(ch.isdigit() for ch in token)
        is_name = token[:1].isupper() and token.lower() not in STOP_WORDS and token != memory.split()[0]
        if (is_number or is_name) and stem(token) not in source_stems and stem(token) not in allowed:
            return Verdict(False, f"'{token}' is not in the messages", support)
    if support < MIN_SUPPORT:
        return Verdict(False, "not what the messages say", support)
    # The sentence the memory rests on: the one sharing most of its words.
    sentences = [s for source in sources for s in CLAUSE.split(source) if s and s.strip()]
    memory_stems = {stem(w) for w in content}
    best = max(sentences, key=lambda s: len(memory_stems & {stem(w) for w in words(s)}), default="")
    if opposite(best, memory):
        return Verdict(False, "says the opposite of the messages", support)
    return Verdict(True, "supported", support)
