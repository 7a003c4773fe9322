"""Catalogue search: turn what people type into an FTS5 query, and correct typos.

Every word becomes a prefix query (`"drag"*` finds dragon). A word that starts no indexed term is
probably misspelt: it is OR-ed with the indexed terms within a small edit distance, found through a
trigram index of the vocabulary kept in memory (rebuilt from FTS5's own vocabulary table).
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 8
MAX_WORD_LENGTH = 40
MAX_CORRECTIONS = 3
MAX_CANDIDATES = 64  # terms whose edit distance is computed for one misspelt word


def fold(word: str) -> str:
    """Lower case without diacritics, as the FTS5 tokenizer (`remove_diacritics 2`) stores terms."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def query_words(text: str) -> list[str]:
    return [fold(w)[:MAX_WORD_LENGTH] for w in WORD.findall(text)][:MAX_WORDS]


def fts_query(groups: list[list[str]]) -> str:
    """AND of the groups; in each group the typed word OR its corrections. Only the last word is a prefix (the
    one still being typed; prefix queries cost more). Words are `\\w+` runs, so quoting them is safe."""
    parts = []
    for index, (typed, *corrections) in enumerate(groups):
        prefix = index == len(groups) - 1 and len(typed) >= 2
        alternatives = [f'"{typed}"*' if prefix else f'"{typed}"', *(f'"{c}"' for c in corrections)]
        parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
    return " AND ".join(parts)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, or `limit + 1` once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def trigrams(word: str) -> set[str]:
    padded = f"^{word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class TermIndex:
    """The search vocabulary with a trigram index, for `corrections()` and `starts_any()`."""

    def __init__(self, terms: Iterable[tuple[str, int]]) -> None:
        pairs = sorted((t, n) for t, n in terms if t.isalpha())
        self.terms = [t for t, _ in pairs]
        self.docs = [n for _, n in pairs]
        self.grams: dict[str, list[int]] = {}
        for index, term in enumerate(self.terms):
            for gram in trigrams(term):
                self.grams.setdefault(gram, []).append(index)

    def __len__(self) -> int:
        return len(self.terms)

    def starts_any(self, prefix: str) -> bool:
        at = bisect_left(self.terms, prefix)
        return at < len(self.terms) and self.terms[at].startswith(prefix)

    def has(self, word: str) -> bool:
        at = bisect_left(self.terms, word)
        return at < len(self.terms) and self.terms[at] == word

    def corrections(self, word: str, limit: int = MAX_CORRECTIONS) -> list[str]:
        """Indexed terms within 1 edit (2 for words of 6+ letters), closest and most used first."""
        if len(word) < 3 or not word.isalpha():
            return []
        max_distance = 1 if len(word) <= 5 else 2
        grams = trigrams(word)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self.grams.get(gram, ()))
        # One edit changes at most three trigrams of the padded word; of the candidates left, only those sharing
        # the most trigrams get the (comparatively slow) edit distance computed.
        needed = max(1, len(grams) - 3 * max_distance)
        candidates = [
            (count, index)
            for index, count in shared.items()
            if count >= needed and abs(len(self.terms[index]) - len(word)) <= max_distance
        ]
        scored = []
        for _, index in heapq.nlargest(MAX_CANDIDATES, candidates):
            term = self.terms[index]
            distance = edit_distance(word, term, max_distance)
            if 0 < distance <= max_distance:
                scored.append((distance, -self.docs[index], term))
        return [term for _, _, term in sorted(scored)[:limit]]

    def expand(self, words: list[str]) -> list[list[str]]:
        """Each word with its corrections when it is not an indexed term (the last word: when no term starts
        with it, since it may still be being typed)."""
        groups = []
        for index, word in enumerate(words):
            known = self.starts_any(word) if index == len(words) - 1 else self.has(word)
            groups.append([word, *([] if known or not word.isalpha() else self.corrections(word))])
        return groups
