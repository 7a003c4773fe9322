"""The maintained word lists and patterns (data/rules.toml), compiled once, matched on normalized text.

Rules are the precise, explainable signal: each hit names its category, weight and the words it matched.
They also tell the other signals what they cannot see: whether the text addresses someone ("you"),
names a group of people, reads as a clinical question, or says someone is a minor.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from bostonia.moderation.normalize import normalize
from bostonia.moderation.schemas import CATEGORIES, Category

FLAG_AT = 0.5  # every signal's score is calibrated so that a category is flagged from here
STRONG = 0.7  # strong terms also match with their first vowel masked ("f*ck" -> "fck")
VOWELS = "aeiou"
SECOND_PERSON = re.compile(r"\b(?:you|u|your|ur|you're|youre|yourself|ya)\b")
GROUPS = re.compile(
    r"\b(?:jews?|jewish|muslims?|islam|christians?|blacks|black people|whites|white people|asians?|mexicans?|"
    r"latinos?|arabs?|immigrants?|refugees?|gays?|lesbians?|trans(?:gender)? people|queers?|women|disabled|"
    r"indians?|africans?|chinese|gypsies|roma|hindus?|sikhs?|catholics?|foreigners)\b"
)
CLINICAL = re.compile(
    r"\b(?:doctor|doctors|symptoms?|infections?|std|stds|sti|stis|hiv|diagnos\w*|clinic|medical(?:ly)?|condoms?|"
    r"contracepti\w*|pregnan\w*|gyn(?:a)?ecolog\w*|urolog\w*|puberty|is it (?:normal|safe|healthy)|normal to|"
    r"pain during|treatment|therapist|nurse|health|healthy)\b"
)
CLINICAL_FACTOR = 0.6  # sexual words in a clinical question weigh this much
# Letters typed three or more times ("yoooou"): patterns, written as plain regexes, also see them once.
ELONGATED = re.compile(r"([a-z])\1{2,}")


def term_pattern(term: str) -> str:
    """A list entry as a regex: whole words, each letter also matching repeats, `*` for any ending."""
    open_end = term.endswith("*")
    parts: list[str] = []
    for run in re.finditer(r"(.)\1*", term.rstrip("*")):
        char, count = run.group(1), len(run.group(0))
        if char == " ":
            parts.append(r"[\s\-]*")
        elif char.isalpha():
            parts.append(re.escape(char) + ("+" if count == 1 else f"{{{count},}}"))
        else:
            parts.append(re.escape(char) * count)
    return "".join(parts) + (r"\w*" if open_end else "")


def masked_variant(term: str) -> str | None:
    """The word with its first vowel dropped, as "f*ck" normalizes to "fck" (single words only)."""
    word = term.rstrip("*")
    if " " in word or len(word) < 4:
        return None
    for index, char in enumerate(word[1:], start=1):
        if char in VOWELS:
            return word[:index] + word[index + 1 :] + ("*" if term.endswith("*") else "")
    return None


def words_regex(terms: Iterable[str], patterns: Iterable[str] = (), *, masked: bool = False) -> re.Pattern[str] | None:
    alternatives = []
    for term in terms:
        alternatives.append(term_pattern(term))
        if masked and (variant := masked_variant(term)):
            alternatives.append(term_pattern(variant))
    # Longest first, so "kill yourself" wins over "kill" where both could start a match.
    alternatives.sort(key=len, reverse=True)
    body = "|".join([*(f"(?:{p})" for p in patterns), *alternatives])
    if not body:
        return None
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


@dataclass(frozen=True)
class Rule:
    category: Category
    weight: float
    regex: re.Pattern[str]


@dataclass
class RuleMatch:
    """What the rules saw in one text."""

    scores: dict[Category, float]
    hits: list[tuple[Category, float, str]] = field(default_factory=list)  # (category, weight, matched words)
    minors: bool = False  # the text or its context says someone is a minor
    second_person: bool = False
    names_group: bool = False
    clinical: bool = False


class RuleSet:
    def __init__(self, config: dict[str, Any]) -> None:
        self.benign = words_regex(config.get("benign", {}).get("phrases", []))
        minors = config.get("minors", {})
        self.minors = words_regex(minors.get("terms", []), minors.get("patterns", []))
        self.rules: list[Rule] = []
        self._last_context: tuple[str, bool] | None = None
        for entry in config.get("rule", []):
            category = entry["category"]
            if category not in CATEGORIES:
                raise ValueError(f"unknown moderation category {category!r} in the rules")
            weight = float(entry["weight"])
            regex = words_regex(entry.get("terms", []), entry.get("patterns", []), masked=weight >= STRONG)
            if regex is not None:
                self.rules.append(Rule(category, weight, regex))

    def _minors_in(self, context: str) -> bool:
        # A streamed reply is checked word by word against the same context: normalize it once.
        last = self._last_context
        if last is not None and last[0] is context:
            return last[1]
        assert self.minors is not None
        found = self.minors.search(normalize(context)) is not None
        self._last_context = (context, found)
        return found

    @classmethod
    def from_text(cls, text: str) -> RuleSet:
        return cls(tomllib.loads(text))

    def match(self, text: str, context: str = "") -> RuleMatch:
        plain = normalize(text)
        if self.benign is not None:
            plain = self.benign.sub(" ", plain)
        squeezed = ELONGATED.sub(r"\1", plain)
        result = RuleMatch(scores=dict.fromkeys(CATEGORIES, 0.0))
        for rule in self.rules:
            found = rule.regex.search(plain) or (rule.regex.search(squeezed) if squeezed != plain else None)
            if found is None or rule.weight <= result.scores[rule.category]:
                continue
            result.scores[rule.category] = rule.weight
            result.hits.append((rule.category, rule.weight, found.group(0).strip()))
        result.second_person = SECOND_PERSON.search(plain) is not None
        result.names_group = GROUPS.search(plain) is not None
        result.clinical = CLINICAL.search(plain) is not None
        if result.clinical:
            result.scores["sexual"] *= CLINICAL_FACTOR
        if self.minors is not None:
            result.minors = bool(self.minors.search(plain) or (context and self._minors_in(context)))
        if result.minors and result.scores["sexual"] >= 0.6:
            result.scores["sexual_minors"] = max(result.scores["sexual_minors"], 0.95)
            result.hits.append(("sexual_minors", 0.95, "sexual content with a minor"))
        return result


@cache
def bundled_rules() -> RuleSet:
    """The rules shipped in bostonia/moderation/data/rules.toml (compiled once per process)."""
    return RuleSet.from_text((resources.files("bostonia.moderation") / "data" / "rules.toml").read_text("utf-8"))
