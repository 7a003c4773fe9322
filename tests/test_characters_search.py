from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.characters import store as store_module
from bostonia.characters.search import TermIndex, edit_distance, fold, fts_query, query_words
from tests.helpers import bearer


def test_query_words_are_folded_and_bounded() -> None:
    assert query_words('Zoë "the" Dragon-Slayer*') == ["zoe", "the", "dragon", "slayer"]
    assert query_words("a " * 50) == ["a"] * 8
    assert fold("Ångström") == "angstrom"


def test_only_the_last_word_is_a_prefix() -> None:
    assert fts_query([["grumpy"], ["dra"]]) == '"grumpy" AND "dra"*'
    assert fts_query([["dargon", "dragon", "wagon"]]) == '("dargon"* OR "dragon" OR "wagon")'
    assert fts_query([["x"]]) == '"x"'


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("dragon", "dragon", 0),
        ("dragon", "dargon", 1),
        ("dragon", "dragons", 1),
        ("dragon", "wagon", 2),
        ("kitten", "sitting", 3),
        ("abc", "xyz", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, 3) == distance
    assert edit_distance(a, b, 1) == min(distance, 2)  # past the limit: limit + 1


def test_corrections_prefer_close_and_common_terms() -> None:
    index = TermIndex([("dragon", 50), ("dragons", 5), ("wagon", 9), ("drain", 3), ("teacup", 1), ("2024", 9)])
    assert index.corrections("dargon") == ["dragon", "wagon", "dragons"]  # distance 1, then 2 (more used first)
    assert index.corrections("teacpu") == ["teacup"]
    assert index.corrections("xy") == [] and index.corrections("zzzzzz") == []
    assert index.starts_any("drag") and not index.starts_any("dargo") and index.has("wagon") and not index.has("wag")
    assert index.expand(["dargon", "teac"]) == [["dargon", "dragon", "wagon", "dragons"], ["teac"]]
    assert "2024" not in index.terms  # only words are corrected towards


def test_broad_queries_rank_a_window_and_fall_back(
    client: TestClient[Any], bob: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RANK_WINDOW", 3)
    public = [
        client.post(
            "/api/v1/characters", json={"name": f"Knight {i}", "visibility": "public"}, headers=bearer(bob)
        ).json()["id"]
        for i in range(5)
    ]
    for i in range(4):  # the most recent matches are private: the window holds too few for others
        client.post("/api/v1/characters", json={"name": f"Knight secret {i}"}, headers=bearer(bob))
    found = [c["id"] for c in client.get("/api/v1/characters/search?q=knight").json()["items"]]
    assert sorted(found) == sorted(public)
    assert len(client.get("/api/v1/characters/search?q=knight", headers=bearer(bob)).json()["items"]) == 9
