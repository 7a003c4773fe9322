"""Scoring a text: three local signals (rules, the offensive-language SVM, exemplar similarity) and any
plugin moderators, combined per category into one verdict with the content tier the text needs.

Every signal's scores are calibrated so that 0.5 means "flag" (rules by their weights, the others by
data/calibration.json, fitted on the dev split of the labelled set). Combined, a category takes the
highest score of any signal, and two signals that each lean towards it (>= 0.35) flag it together.
`check` is blocking (the SVM and the embedding model): callers run it on a worker thread.
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

import numpy as np

from bostonia.embeddings import Embedder, Vectors
from bostonia.identity import CONTENT_TIERS, ContentTier
from bostonia.moderation.classifier import OffensiveClassifier
from bostonia.moderation.normalize import normalize
from bostonia.moderation.rules import FLAG_AT, RuleSet, bundled_rules
from bostonia.moderation.schemas import CATEGORIES, CATEGORY_TIER, SIGNALS, Category, Signal, TextVerdict

LEANS = 0.35  # a signal this sure "leans" towards a category; two leaning signals flag it
SEXUAL_DAMPING = 0.5
AGREEMENT = 0.55
SIMILARITY_SLOPE = 2.5  # similarity 0.2 above a category's threshold scores 1.0
NEARER_BENIGN_CAP = 0.45  # a text closer to a benign anchor than to the category stays unflagged
MINORS_MARGIN = 0.05
CHUNK_WORDS = 60  # long texts are embedded in pieces of about this many words
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class Moderator(Protocol):
    """A plugin's moderator (registered through the `register_moderators` hook)."""

    name: str

    def moderate(self, text: str, context: str) -> dict[str, float] | None:
        """Scores 0..1 for any of the categories (0.5 and up flags); blocking, called on a worker thread."""
        ...


@dataclass(frozen=True)
class Calibration:
    similarity_thresholds: dict[str, float]
    harassment_factor: float  # SVM probability x this = harassment, when the text addresses someone
    untargeted_factor: float  # ... when it addresses no one (profanity, not harassment)
    hate_factor: float  # SVM probability x this = hate, when the text names a group of people

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            similarity_thresholds={k: float(v) for k, v in data["similarity_thresholds"].items()},
            harassment_factor=float(data["harassment_factor"]),
            untargeted_factor=float(data["untargeted_factor"]),
            hate_factor=float(data["hate_factor"]),
        )


@cache
def bundled_calibration() -> Calibration:
    raw = (resources.files("bostonia.moderation") / "data" / "calibration.json").read_text("utf-8")
    return Calibration.from_dict(json.loads(raw))


@cache
def bundled_exemplars() -> dict[str, list[str]]:
    raw = (resources.files("bostonia.moderation") / "data" / "exemplars.toml").read_text("utf-8")
    return {key: list(value) for key, value in tomllib.loads(raw).items()}


class ExemplarIndex:
    """Embedded exemplars per category and the benign anchors (embedded on first use)."""

    def __init__(self, embedder: Embedder, exemplars: dict[str, list[str]]) -> None:
        self.embedder = embedder
        self.exemplars = exemplars
        self._vectors: dict[str, Vectors] | None = None
        self._lock = threading.Lock()

    def vectors(self) -> dict[str, Vectors]:
        with self._lock:
            if self._vectors is None:
                self._vectors = {key: self.embedder.embed(texts) for key, texts in self.exemplars.items() if texts}
            return self._vectors

    def similarities(self, text: str) -> tuple[dict[str, float], float]:
        """Per category, the highest cosine similarity of any piece of the text to its exemplars, and the
        benign anchors' similarity to that same piece."""
        vectors = self.vectors()
        pieces = self.embedder.embed(chunks(text))
        benign = pieces @ vectors["benign"].T if "benign" in vectors else np.zeros((len(pieces), 1))
        best: dict[str, float] = {}
        nearest_benign = 0.0
        for category in CATEGORIES:
            if category not in vectors:
                continue
            per_piece = (pieces @ vectors[category].T).max(axis=1)
            index = int(per_piece.argmax())
            best[category] = float(per_piece[index])
            best[f"{category}:benign"] = float(benign[index].max())
            nearest_benign = max(nearest_benign, float(benign[index].max()))
        return best, nearest_benign


def chunks(text: str) -> list[str]:
    """Sentences grouped into pieces of about CHUNK_WORDS words (one piece for a short text)."""
    words = text.split()
    if len(words) <= CHUNK_WORDS:
        return [text.strip() or text]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in SENTENCE_END.split(text):
        if current and len(current) + len(sentence.split()) > CHUNK_WORDS:
            pieces.append(" ".join(current))
            current = []
        current.extend(sentence.split())
        while len(current) > CHUNK_WORDS:  # one very long sentence
            pieces.append(" ".join(current[:CHUNK_WORDS]))
            current = current[CHUNK_WORDS:]
    if current:
        pieces.append(" ".join(current))
    return pieces


def tier_needed(flagged: Collection[Category]) -> tuple[ContentTier, bool]:
    """The lowest tier allowing every flagged category, and whether some category no tier allows."""
    tier_index = 0
    never = False
    for category in flagged:
        tier = CATEGORY_TIER[category]
        if tier is None:
            never = True
        else:
            tier_index = max(tier_index, CONTENT_TIERS.index(tier))
    return ("adult" if never else CONTENT_TIERS[tier_index]), never


def allowed_in(verdict: TextVerdict, tier: ContentTier) -> bool:
    return not verdict.always_blocked and CONTENT_TIERS.index(verdict.tier) <= CONTENT_TIERS.index(tier)


class TextModerator:
    def __init__(
        self,
        *,
        rules: RuleSet | None = None,
        classifier: OffensiveClassifier | None = None,
        embedder: Embedder | None = None,
        exemplars: dict[str, list[str]] | None = None,
        calibration: Calibration | None = None,
        moderators: Sequence[Moderator] = (),
    ) -> None:
        self.rules = rules or bundled_rules()
        self.classifier = classifier
        self.index = ExemplarIndex(embedder, exemplars or bundled_exemplars()) if embedder is not None else None
        self.calibration = calibration or bundled_calibration()
        self.moderators = list(moderators)

    @property
    def available_signals(self) -> tuple[Signal, ...]:
        present = {
            "rules": True,
            "classifier": self.classifier is not None,
            "similarity": self.index is not None,
            "plugins": bool(self.moderators),
        }
        return tuple(s for s in SIGNALS if present[s])

    def warm_up(self) -> None:
        """Load the classifier and embed the exemplars now rather than on the first check."""
        if self.classifier is not None:
            self.classifier.load()
        if self.index is not None:
            self.index.vectors()

    def check(self, text: str, context: str = "", *, signals: Collection[Signal] | None = None) -> TextVerdict:
        use = set(self.available_signals if signals is None else signals) & set(self.available_signals)
        found = self.rules.match(text, context)
        per_signal: dict[str, dict[str, float]] = {}
        reasons: list[str] = []
        if "rules" in use:
            per_signal["rules"] = {str(c): s for c, s in found.scores.items() if s}
            reasons += [f"{category}: matched “{words}”" for category, _, words in found.hits]
        if "classifier" in use and self.classifier is not None:
            per_signal["classifier"] = self._classifier_scores(
                text, found.second_person, found.names_group, sexual=found.scores["sexual"] >= LEANS
            )
        if "similarity" in use and self.index is not None:
            per_signal["similarity"] = self._similarity_scores(text, found.minors)
        if "plugins" in use:
            for moderator in self.moderators:
                given = moderator.moderate(text, context) or {}
                kept: dict[str, float] = {c: min(max(float(s), 0.0), 1.0) for c, s in given.items() if c in CATEGORIES}
                per_signal[f"plugin:{moderator.name}"] = kept
                reasons += [f"{c}: plugin {moderator.name}" for c, s in kept.items() if s >= FLAG_AT]
        scores = self._combine(per_signal)
        if found.minors and scores["sexual"] >= FLAG_AT and scores["sexual_minors"] < 0.9:
            scores["sexual_minors"] = 0.9
            reasons.append("sexual_minors: sexual content where someone is said to be a minor")
        for name, values in per_signal.items():
            if name in ("classifier", "similarity"):
                reasons += [f"{c}: {name} {s:.2f}" for c, s in values.items() if s >= FLAG_AT]
        flagged = [c for c in CATEGORIES if scores[c] >= FLAG_AT]
        tier, never = tier_needed(flagged)
        return TextVerdict(
            flagged=bool(flagged),
            categories={c: c in flagged for c in CATEGORIES},
            scores={c: round(scores[c], 3) for c in CATEGORIES},
            tier=tier,
            always_blocked=never,
            reasons=reasons,
            signals={name: {c: round(s, 3) for c, s in values.items()} for name, values in per_signal.items()},
        )

    def _classifier_scores(
        self, text: str, second_person: bool, names_group: bool, *, sexual: bool
    ) -> dict[str, float]:
        assert self.classifier is not None
        probability = self.classifier.probability([normalize(text)])[0]
        calibration = self.calibration
        factor = calibration.harassment_factor if second_person else calibration.untargeted_factor
        if sexual:  # the SVM finds sexual words offensive: that is the sexual category's business, not abuse
            factor *= SEXUAL_DAMPING
        scores = {"harassment": probability * factor}
        if names_group:
            scores["hate"] = probability * calibration.hate_factor
        return scores

    def _similarity_scores(self, text: str, minors: bool) -> dict[str, float]:
        assert self.index is not None
        similarities, _ = self.index.similarities(text)
        if (
            not minors
            and "sexual_minors" in similarities
            and (similarities["sexual_minors"] < similarities.get("sexual", 0.0) + MINORS_MARGIN)
        ):
            # Its exemplars are sexual too: without a word about a minor, only a text clearly nearer to them
            # than to the sexual ones counts.
            similarities["sexual_minors"] = 0.0
        scores: dict[str, float] = {}
        for category in CATEGORIES:
            if category not in similarities:
                continue
            nearest = similarities[category]
            threshold = self.calibration.similarity_thresholds.get(category, 0.6)
            score = min(max(0.5 + (nearest - threshold) * SIMILARITY_SLOPE, 0.0), 1.0)
            if similarities[f"{category}:benign"] >= nearest:
                score = min(score, NEARER_BENIGN_CAP)
            scores[category] = score
        return scores

    @staticmethod
    def _combine(per_signal: dict[str, dict[str, float]]) -> dict[Category, float]:
        combined: dict[Category, float] = {}
        for category in CATEGORIES:
            values = [scores.get(category, 0.0) for scores in per_signal.values()]
            score = max(values, default=0.0)
            if score < AGREEMENT and sum(v >= LEANS for v in values) >= 2:
                score = AGREEMENT
            combined[category] = score
        return combined


def tier_at_most(first: ContentTier, second: ContentTier) -> ContentTier:
    return CONTENT_TIERS[min(CONTENT_TIERS.index(first), CONTENT_TIERS.index(second))]
