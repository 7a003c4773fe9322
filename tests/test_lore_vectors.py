"""Vector activation (SillyTavern's Vector Storage for World Info) with a fake embedder, and where
activated entries land in the prompt."""

from __future__ import annotations

import asyncio
import math

from bostonia.lore.injector import place
from bostonia.lore.schemas import LoreSettings
from bostonia.lore.vectors import VectorMatcher
from bostonia.prompt.builder import build_prompt
from tests.lore_support import Card, compiled, entry, ids, run

TOPICS = ("sea", "ship", "harbour", "forest", "tree", "wolf", "fire", "forge")


class BagOfWords:
    """An 'embedding' that counts topic words: texts about the same things point the same way."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(text.lower().count(topic)) + 0.01 for topic in TOPICS] for text in texts]


def test_similar_entries_fire_within_threshold_and_limit() -> None:
    book = compiled(
        [
            entry("harbour", keys=[], content="The harbour, its ships and the grey sea.", vectorized=True),
            entry("woods", keys=[], content="The forest: every tree hides a wolf.", vectorized=True),
            entry("plain", keys=[], content="Ships and the sea again, but not vectorized."),
            entry("forge", keys=["anvil"], content="The forge and its fire.", vectorized=True),
        ]
    )
    embedder = BagOfWords()
    matcher = VectorMatcher(embedder)
    settings = LoreSettings(vector_enabled=True, vector_threshold=0.8, vector_max_entries=5)
    recent = ["hello", "We sailed the ship out of the harbour onto the sea."]
    hits = asyncio.run(matcher.hits(book, recent, settings))
    assert set(hits) == {"harbour"} and hits["harbour"] > 0.9
    result = run(book, recent, settings, vector_hits=hits)
    assert ids(result) == ["harbour"]
    assert result.activated[0][1].reason == "vector" and "similarity" in result.activated[0][1].why
    # "Enabled for all entries" takes the unmarked one too; max entries caps the count.
    everything = LoreSettings(vector_enabled=True, vector_all_entries=True, vector_threshold=0.8, vector_max_entries=1)
    assert len(asyncio.run(matcher.hits(book, recent, everything))) == 1
    # Entry contents are embedded once; later turns embed only the query.
    asyncio.run(matcher.hits(book, ["the forest and a wolf"], settings))
    assert embedder.calls[-1] == ["the forest and a wolf"]
    # The query is the last `vector_query_messages` messages, not the scan depth.
    older = ["Our ship left the harbour at sea.", "ok", "fine"]
    one = LoreSettings(vector_enabled=True, vector_threshold=0.8, vector_query_messages=1)
    three = LoreSettings(vector_enabled=True, vector_threshold=0.8, vector_query_messages=3)
    assert asyncio.run(matcher.hits(book, older, one)) == {}
    assert math.isclose(asyncio.run(matcher.hits(book, older, three))["harbour"], hits["harbour"], rel_tol=0.2)


def test_placement_in_the_prompt() -> None:
    """Non-@depth positions share one system message at the lore depth, ordered before-char, examples,
    after-char, author's note top/bottom, then by order; @depth entries go one message per depth and role."""
    book = compiled(
        [
            entry("after", keys=["k"], content="AFTER", position="after_char", insertion_order=1),
            entry("before", keys=["k"], content="BEFORE", position="before_char", insertion_order=50),
            entry("an", keys=["k"], content="AN-BOTTOM", position="an_bottom", insertion_order=99),
            entry("deep-u", keys=["k"], content="DEEP-USER", position="at_depth", depth=3, role="user"),
            entry("deep-s", keys=["k"], content="DEEP-SYSTEM", position="at_depth", depth=3),
            entry("zero", keys=["k"], content="@@depth 0\nZERO"),
        ]
    )
    settings = LoreSettings(depth=2)
    injections = place(run(book, ["k"], settings), settings)
    from bostonia.llm.base import ChatMessage

    history = [ChatMessage("assistant" if i % 2 else "user", f"m{i}") for i in range(6)]
    prompt = build_prompt(
        Card(),
        history,
        user_name="Ren",
        budget=4000,
        count_tokens=lambda t: len(t.split()),
        injections=injections,
    )
    contents = [(m.role, m.content) for m in prompt.messages[1:]]
    assert contents == [
        ("user", "m0"),
        ("assistant", "m1"),
        ("user", "m2"),
        ("user", "DEEP-USER"),
        ("system", "DEEP-SYSTEM"),
        ("assistant", "m3"),
        ("system", "BEFORE\n\nAFTER\n\nAN-BOTTOM"),
        ("user", "m4"),
        ("assistant", "m5"),
        ("system", "ZERO"),
    ]
    lore_sections = [s for s in prompt.sections if s.name == "lore"]
    assert [d["entry_id"] for d in lore_sections[2].details] == ["before", "after", "an"]
