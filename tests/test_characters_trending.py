from __future__ import annotations

import pytest

from bostonia.characters.trending import WEIGHTS, scores


def test_scores_weigh_kinds_and_decay_with_age() -> None:
    fresh = scores([("a", "conversation", 0, 1)], half_life_hours=48)["a"]
    assert fresh == pytest.approx(WEIGHTS["conversation"] * 0.5 ** (12 / 48))
    old = scores([("a", "conversation", 4, 1)], half_life_hours=48)["a"]
    assert old == pytest.approx(fresh * 0.5**2)  # four days = two half-lives


def test_bad_ratings_pull_down() -> None:
    totals = scores([("a", "rating", 0, 2.5), ("b", "rating", 0, -3.0), ("b", "favorite", 0, 1)], 48)
    assert totals["a"] > 0 and totals["b"] < totals["a"]
    assert scores([("c", "unknown", 0, 10)], 48) == {"c": 0.0}
