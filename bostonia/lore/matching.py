"""How a World Info key matches the scanned chat text (SillyTavern's `matchKeys`), fast.

- A key written `/pattern/flags` is a regular expression (JavaScript flags: `i`, `m`, `s`, `u`; `g`, `y`,
  `d`, `v` change nothing for a yes/no search); so is every key of a V3 entry with `use_regex`. A regex
  key ignores the case and whole-word settings. Patterns run under the `regex` module with a time
  limit, so a catastrophic pattern in an imported book costs at most `REGEX_TIMEOUT` per key and turn
  (then counts as no match); the API refuses invalid and nested-repetition patterns before they are saved.
- Otherwise a key is plain text, compared case-insensitively unless the entry (or the user's settings)
  says otherwise. With "match whole words", a one-word key must stand between non-word characters;
  a key of several words is matched as it is written (SillyTavern's rule).

Speed: one scan over a 1,000-entry book must take a few milliseconds, and most keys do not match.
`ScanText` indexes the scanned text once — its set of words, and the trigrams inside those words (from a
cache per word) — so a plain key is ruled out by set lookups before any substring search runs.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache

import regex

# JavaScript-style regex key: `/body/flags`. The body may contain slashes and commas.
REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
JS_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "u": 0, "g": 0, "y": 0, "d": 0, "v": 0}
REGEX_TIMEOUT = 0.02  # seconds per search
MAX_PATTERN_CHARS = 1_000
WORD = re.compile(r"\w+")
ONE_WORD = re.compile(r"^\w+$")
# A repeated group that itself contains an unbounded repetition: `(a+)+`, `(\w*\s?)*`, `(x+x+){2,}`.
NESTED_REPETITION = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})")


class InvalidPattern(ValueError):
    pass


def regex_parts(key: str, use_regex: bool) -> tuple[str, str] | None:
    """(pattern, flags) if `key` is a regex key, else None."""
    found = REGEX_KEY.match(key)
    if found:
        return found.group(1), found.group(2)
    if use_regex:
        return key, ""
    return None


@lru_cache(maxsize=4096)
def compile_key(pattern: str, flags: str, ignore_case: bool = False) -> regex.Pattern[str]:
    """The compiled pattern; raises `InvalidPattern` with a reason people can act on."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidPattern(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    value = regex.IGNORECASE if ignore_case else 0
    for flag in flags:
        if flag not in JS_FLAGS:
            raise InvalidPattern(f"unknown regex flag {flag!r} (use i, m, s, u)")
        value |= JS_FLAGS[flag]
    try:
        return regex.compile(pattern, value | regex.V0)
    except regex.error as exc:
        raise InvalidPattern(str(exc)) from None


def _stress_texts(pattern: str) -> list[str]:
    """Texts that make backtracking patterns blow up: long runs of each character the pattern names,
    ending in one that breaks the match."""
    chars = list(dict.fromkeys(c for c in pattern if c.isalnum() or c == " "))[:12] or ["a"]
    return [c * 32 + "\x00" for c in chars] + ["".join(chars) * 8 + "\x00"]


def check_pattern(pattern: str, flags: str) -> None:
    """Refuse what the API must not store: an invalid pattern, or one that can take exponential time —
    nested repetition (`(a+)+`) seen in the pattern, or a slow search on texts built to provoke it
    (`(a|aa)*b`). Imported books are not refused: their keys run under the time limit instead."""
    compiled = compile_key(pattern, flags)
    if NESTED_REPETITION.search(pattern):
        raise InvalidPattern("nested repetition such as (a+)+ can take exponential time; simplify the pattern")
    for text in _stress_texts(pattern):
        try:
            compiled.search(text, timeout=REGEX_TIMEOUT * 5)
        except TimeoutError:
            raise InvalidPattern(
                "the pattern can take exponential time (overlapping repetition); simplify it"
            ) from None


def trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


_WORD_GRAMS: dict[str, frozenset[str]] = {}
WORD_GRAMS_CACHE = 200_000


def word_grams(word: str) -> frozenset[str]:
    """The trigrams of one word, cached across scans: chats repeat their words, turn after turn."""
    grams = _WORD_GRAMS.get(word)
    if grams is None:
        if len(_WORD_GRAMS) >= WORD_GRAMS_CACHE:
            _WORD_GRAMS.clear()
        grams = _WORD_GRAMS[word] = frozenset(trigrams(word))
    return grams


class ScanText:
    """The text one scan looks at, with the indexes that make plain keys cheap to rule out."""

    __slots__ = ("_folded", "_folded_grams", "_folded_words", "_grams", "_starts", "_words", "joiner", "parts", "raw")

    def __init__(self, raw: str, parts: Sequence[str] = (), joiner: str = "") -> None:
        """`raw` is `joiner + joiner.join(parts)` when built from parts (then `part_at` can say which)."""
        self.raw = raw
        self.parts = parts
        self.joiner = joiner
        self._starts: dict[bool, list[int]] = {}
        self._folded: str | None = None
        self._words: set[str] | None = None
        self._folded_words: set[str] | None = None
        self._grams: set[str] | None = None
        self._folded_grams: set[str] | None = None

    def text(self, case_sensitive: bool) -> str:
        if case_sensitive:
            return self.raw
        if self._folded is None:
            self._folded = self.raw.lower()
        return self._folded

    def words(self, case_sensitive: bool) -> set[str]:
        if case_sensitive:
            if self._words is None:
                self._words = set(WORD.findall(self.raw))
            return self._words
        if self._folded_words is None:
            self._folded_words = set(WORD.findall(self.text(False)))
        return self._folded_words

    def part_at(self, position: int, folded: bool) -> int:
        """Which part a position of the (folded, or raw) text falls in."""
        starts = self._starts.get(folded)
        if starts is None:
            starts, offset = [], len(self.joiner)
            for part in self.parts:
                starts.append(offset)
                offset += len(part.lower() if folded else part) + len(self.joiner)
            self._starts[folded] = starts
        return max(0, bisect_right(starts, position) - 1)

    def grams(self, case_sensitive: bool) -> set[str]:
        """The trigrams inside the text's words (not across them): built from cached per-word sets, so
        the cost follows the distinct words, not every character."""
        found = self._grams if case_sensitive else self._folded_grams
        if found is None:
            found = set()
            for word in self.words(case_sensitive):
                found |= word_grams(word)
            if case_sensitive:
                self._grams = found
            else:
                self._folded_grams = found
        return found


class Key:
    """One key of an entry, prepared for matching (plain text folded once, a pattern compiled once)."""

    __slots__ = (
        "case_sensitive",
        "grams",
        "invalid",
        "multi_word",
        "needle",
        "one_word",
        "pattern",
        "text",
        "whole_words",
    )

    def __init__(self, text: str, *, case_sensitive: bool, whole_words: bool, use_regex: bool) -> None:
        self.text = text
        self.case_sensitive = case_sensitive
        self.whole_words = whole_words
        self.pattern: regex.Pattern[str] | None = None
        self.invalid = False
        parts = regex_parts(text, use_regex)
        if parts is not None:
            pattern, flags = parts
            try:
                # A bare V3 pattern (no slashes, so no flags) follows the entry's case setting.
                ignore_case = not case_sensitive and not REGEX_KEY.match(text)
                self.pattern = compile_key(pattern, flags, ignore_case)
            except InvalidPattern:
                self.invalid = True  # the V3 rule: an invalid pattern is never a match
        self.needle = text if case_sensitive else text.lower()
        self.one_word = bool(ONE_WORD.match(self.needle))
        self.multi_word = len(self.needle.split()) > 1
        # A key found in the text has each of its word-runs inside a word of the text (interior ones as
        # whole words), so the runs' trigrams must all be among the text's word trigrams: an exact filter.
        self.grams = tuple({gram for run in WORD.findall(self.needle) for gram in trigrams(run)})

    def matches(self, scan: ScanText) -> bool:
        if self.invalid:
            return False
        if self.pattern is not None:
            try:
                return self.pattern.search(scan.raw, timeout=REGEX_TIMEOUT) is not None
            except TimeoutError:
                return False
        if self.whole_words and self.one_word:
            return self.needle in scan.words(self.case_sensitive)
        if self.grams:
            grams = scan.grams(self.case_sensitive)
            for gram in self.grams:
                if gram not in grams:
                    return False
        haystack = scan.text(self.case_sensitive)
        if not self.whole_words or self.multi_word:
            return self.needle in haystack
        # A one-"word" key with non-word characters in it (`C++`, `Dr.`): bounded by non-word characters.
        return find_bounded(haystack, self.needle) >= 0

    def locate(self, scan: ScanText) -> tuple[int, bool] | None:
        """Where the key first matches: (position, whether in the folded text), or None."""
        if self.invalid:
            return None
        if self.pattern is not None:
            try:
                found = self.pattern.search(scan.raw, timeout=REGEX_TIMEOUT)
            except TimeoutError:
                return None
            return (found.start(), False) if found else None
        haystack = scan.text(self.case_sensitive)
        if not self.whole_words or self.multi_word:
            position = haystack.find(self.needle)
            return (position, not self.case_sensitive) if position >= 0 else None
        position = find_bounded(haystack, self.needle)
        return (position, not self.case_sensitive) if position >= 0 else None

    def found_in(self, raw: str) -> bool:
        """The same test on one short text, without building indexes (to say where a key matched)."""
        if self.invalid:
            return False
        if self.pattern is not None:
            try:
                return self.pattern.search(raw, timeout=REGEX_TIMEOUT) is not None
            except TimeoutError:
                return False
        haystack = raw if self.case_sensitive else raw.lower()
        if not self.whole_words or self.multi_word:
            return self.needle in haystack
        return find_bounded(haystack, self.needle) >= 0


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def find_bounded(haystack: str, needle: str) -> int:
    """The first place `needle` stands between non-word characters (or the ends), else -1. A `str.find`
    loop, because a boundary regex has no literal to skip ahead on and crawls over long text."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if (start == 0 or not _word_char(haystack[start - 1])) and (
            end == len(haystack) or not _word_char(haystack[end])
        ):
            return start
        start = haystack.find(needle, start + 1)
    return -1


def prepare_keys(keys: list[str], *, case_sensitive: bool, whole_words: bool, use_regex: bool) -> tuple[Key, ...]:
    return tuple(
        Key(key.strip(), case_sensitive=case_sensitive, whole_words=whole_words, use_regex=use_regex)
        for key in keys
        if key.strip()
    )
