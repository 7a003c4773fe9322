"""World Info activation, feature by feature, from SillyTavern's documented behaviour (docs.sillytavern.app
"World Info") and the Character Card V3 specification's decorators. Unit tests of the scan loop: no database."""

from __future__ import annotations

from bostonia.lore import decorators
from bostonia.lore.schemas import LoreSettings
from bostonia.lore.timed import EntryState
from tests.lore_support import compiled, entry, ids, run, why

S = LoreSettings


# -- keys ----------------------------------------------------------------------------------------------------


def test_keys_are_case_insensitive_unless_asked() -> None:
    book = [entry("rose", keys=["Rose"], content="A flower.")]
    assert ids(run(book, ["I picked a rose"])) == ["rose"]
    assert ids(run(book, ["I picked a rose"], S(case_sensitive=True))) == []
    assert ids(run(book, ["Rose said hi"], S(case_sensitive=True))) == ["rose"]
    # The entry's own setting beats the user's.
    own = [entry("rose", keys=["Rose"], case_sensitive=False, content="A flower.")]
    assert ids(run(own, ["I picked a rose"], S(case_sensitive=True))) == ["rose"]


def test_whole_words() -> None:
    """Docs: with "match whole words", key "king" matches "long live the king" but not "liking"; a key of
    several words is looked for as written."""
    book = [entry("king", keys=["king"], content="x"), entry("two", keys=["red dragon"], content="y")]
    settings = S(match_whole_words=True)
    assert ids(run(book, ["long live the king!"], settings)) == ["king"]
    assert ids(run(book, ["it's not to my liking"], settings)) == []
    assert ids(run(book, ["it's not to my liking"])) == ["king"]  # off by default: a substring is enough
    assert ids(run(book, ["the red dragonfly"], settings)) == ["two"]
    punctuated = [entry("cpp", keys=["C++"], match_whole_words=True, content="x")]
    assert ids(run(punctuated, ["I write C++ daily"])) == ["cpp"] and ids(run(punctuated, ["C++x"])) == []


def test_regex_keys() -> None:
    """Docs: a key written /pattern/flags is a JavaScript-style regex; commas are fine inside it."""
    book = [entry("w", keys=["/(?:he|she) (?:is noticing|observes) (?:the )?(rain|wind, heavy)/i"], content="Weather.")]
    assert ids(run(book, ["She OBSERVES the rain."])) == ["w"]
    assert ids(run(book, ["she observes wind, heavy"])) == ["w"]
    assert ids(run(book, ["she ignores the rain"])) == []
    # V3 `use_regex`: bare patterns; an invalid one never matches (and does not break the scan).
    v3 = [entry("a", keys=["dra(g|k)on"], use_regex=True, content="x"), entry("b", keys=["x"], content="y")]
    v3[0].keys = ["dra(g|k)on", "(unclosed"]
    assert ids(run(v3, ["a drakon and x"])) == ["a", "b"]


def test_catastrophic_regex_is_bounded_in_time() -> None:
    import time

    hostile = entry("h", keys=["x"], content="x")
    hostile.keys = ["/(a|aa)+$/"]  # exponential on "aaaa...!" (imported books are not checked on save)
    started = time.perf_counter()
    assert ids(run([hostile], ["a" * 40 + "!"])) == []
    assert time.perf_counter() - started < 0.5


def test_macros_in_keys() -> None:
    book = [entry("me", keys=["{{user}}'s sword"], content="It is cursed.")]
    assert ids(run(book, ["Ren's sword glows"])) == ["me"]  # tests' persona is Ren


# -- selective logic ---------------------------------------------------------------------------------------------


def test_selective_logic_all_four() -> None:
    """Docs "Optional Filter": AND ANY, AND ALL, NOT ANY, NOT ALL with the primary key present."""

    def fires(logic: str, text: str) -> bool:
        book = [entry("e", keys=["river"], secondary_keys=["bridge", "ford"], selective_logic=logic, content="x")]
        return ids(run(book, [text])) == ["e"]

    assert fires("and_any", "river bridge") and not fires("and_any", "river")
    assert fires("and_all", "river bridge ford") and not fires("and_all", "river bridge")
    assert fires("not_any", "river") and not fires("not_any", "river ford")
    assert fires("not_all", "river bridge") and not fires("not_all", "river bridge ford")
    assert not fires("and_any", "bridge ford")  # the primary key is always required
    # Secondary keys count only for selective entries.
    loose = [entry("e", keys=["river"], secondary_keys=["bridge"], selective=False, content="x")]
    assert ids(run(loose, ["river"])) == ["e"]


# -- constant, probability, scan depth ------------------------------------------------------------------------


def test_constant_entries_are_always_in_and_first_into_the_budget() -> None:
    book = [entry("c", constant=True, content="Two suns."), entry("k", keys=["moon"], content="A moon.")]
    result = run(book, ["nothing here"])
    assert ids(result) == ["c"] and why(result, "c") == "constant (always on)"
    # A constant entry's content takes part in recursion like any other.
    book[0] = entry("c", constant=True, content="Two moons.")
    assert ids(run(book, ["nothing here"])) == ["c", "k"]


def test_probability_is_seeded_per_conversation_and_turn() -> None:
    book = [entry(f"e{i}", keys=["storm"], probability=50, content=f"c{i}") for i in range(40)]
    first = ids(run(book, ["storm"], seed="chat-a|3"))
    assert first == ids(run(book, ["storm"], seed="chat-a|3"))  # the same prompt re-rendered: the same lore
    assert 8 < len(first) < 32  # about half
    assert first != ids(run(book, ["storm"], seed="chat-a|5"))  # another turn rolls again
    unrolled = [entry("u", keys=["storm"], probability=10, use_probability=False, content="x")]
    assert ids(run(unrolled, ["storm"])) == ["u"]  # useProbability off: never rolled
    assert ids(run([entry("z", keys=["storm"], probability=0, content="x")], ["storm"])) == []


def test_scan_depth_counts_the_latest_messages() -> None:
    book = [entry("old", keys=["lighthouse"], content="x")]
    chat = ["the lighthouse", "hello", "how are you"]
    assert ids(run(book, chat, S(scan_depth=2))) == []
    assert ids(run(book, chat, S(scan_depth=3))) == ["old"]
    deep = [entry("old", keys=["lighthouse"], scan_depth=3, content="x")]  # the entry's own depth wins
    assert ids(run(deep, chat, S(scan_depth=1))) == ["old"]
    result = run(book, chat, S(scan_depth=3))
    assert why(result, "old") == "key 'lighthouse' in message 3 from the end"
    assert ids(run(book, chat, S(scan_depth=0))) == []


def test_min_activations_widen_the_scan() -> None:
    """Docs: with min activations, the scan goes further back until that many entries fired (to max depth)."""
    book = [entry("a", keys=["apple"], content="x"), entry("b", keys=["banana"], content="y")]
    chat = ["banana", "apple", "m1", "m2"]
    assert ids(run(book, chat, S(scan_depth=1))) == []
    assert set(ids(run(book, chat, S(scan_depth=1, min_activations=2)))) == {"a", "b"}
    assert ids(run(book, chat, S(scan_depth=1, min_activations=2, min_activations_depth_max=3))) == ["a"]
    result = run(book, chat, S(scan_depth=1, min_activations=1))
    assert "widened" in why(result, "a")


# -- recursion ---------------------------------------------------------------------------------------------------


def test_recursion_from_entry_content() -> None:
    """Docs: Bessie's content mentions Rufus, so "just Bessie" brings both in."""
    book = [
        entry("bessie", keys=["Bessie"], content="Bessie is a cow and is friends with Rufus."),
        entry("rufus", keys=["Rufus"], content="Rufus is a dog."),
    ]
    result = run(book, ["Tell me about Bessie"])
    assert ids(result) == ["bessie", "rufus"]
    assert why(result, "rufus") == "key 'Rufus' in the content of 'Bessie'"
    assert result.activated[1][1].reason == "recursion" and result.activated[1][1].from_entry == "bessie"
    assert ids(run(book, ["Tell me about Bessie"], S(recursive=False))) == ["bessie"]


def test_recursion_flags() -> None:
    chain = [
        entry("a", keys=["alpha"], content="mentions beta", insertion_order=300),
        entry("b", keys=["beta"], content="mentions gamma", insertion_order=200),
        entry("c", keys=["gamma"], content="the end", insertion_order=100),
    ]
    assert ids(run(chain, ["alpha"])) == ["a", "b", "c"]
    assert ids(run(chain, ["alpha"], S(max_recursion_steps=2))) == ["a", "b"]
    chain[1] = entry("b", keys=["beta"], content="mentions gamma", insertion_order=200, exclude_recursion=True)
    assert ids(run(chain, ["alpha"])) == ["a"]  # non-recursable: only the chat itself can activate it
    chain[1] = entry("b", keys=["beta"], content="mentions gamma", insertion_order=200, prevent_recursion=True)
    assert ids(run(chain, ["alpha"])) == ["a", "b"]  # it fires, but its content triggers nothing further
    delayed = [
        entry("hint", keys=["door"], content="The door has a secret.", insertion_order=10),
        entry("secret", keys=["door"], content="Behind it: a key.", delay_until_recursion=True),
    ]
    assert ids(run(delayed, ["the door"])) == ["hint", "secret"]  # waits for a recursion step, then fires
    alone = [entry("secret", keys=["door"], content="Behind it.", delay_until_recursion=True)]
    assert ids(run(alone, ["the door"])) == []  # only a recursion step can bring it in
    levels = [
        entry("one", keys=["door"], content="A hinge.", delay_until_recursion=1),
        entry("two", keys=["door"], content="A lock.", delay_until_recursion=2),
        entry("hint", keys=["door"], content="Old wood.", insertion_order=1),
    ]
    result = run(levels, ["the door"])
    assert ids(result) == ["hint", "one", "two"]  # level 1 with the first recursion, level 2 after it


def test_book_without_recursive_scanning_is_not_recursed_into() -> None:
    """V3: `recursive_scanning: false` means its entries MUST NOT match other entries' content."""
    book = [
        entry("bessie", keys=["Bessie"], content="friends with Rufus"),
        entry("rufus", keys=["Rufus"], content="a dog"),
    ]
    assert ids(run(compiled(book, recursive_scanning=False), ["Bessie"])) == ["bessie"]


# -- inclusion groups ---------------------------------------------------------------------------------------------


def test_inclusion_group_keeps_one() -> None:
    book = [entry(f"w{i}", keys=["weather"], group="weather", content=f"w{i}") for i in range(4)]
    chosen = ids(run(book, ["the weather"]))
    assert len(chosen) == 1
    picks = {ids(run(book, ["the weather"], seed=f"c|{turn}"))[0] for turn in range(40)}
    assert len(picks) == 4  # a weighted draw, varying by turn


def test_group_weights_and_prioritize() -> None:
    heavy = [
        entry("rare", keys=["mood"], group="mood", group_weight=1, content="r"),
        entry("common", keys=["mood"], group="mood", group_weight=99, content="c"),
    ]
    wins = [ids(run(heavy, ["mood"], seed=f"c|{turn}"))[0] for turn in range(200)]
    assert wins.count("common") > 180
    prioritized = [
        entry("low", keys=["mood"], group="mood", group_override=True, insertion_order=10, content="l"),
        entry("high", keys=["mood"], group="mood", group_override=True, insertion_order=90, content="h"),
        entry("heavy", keys=["mood"], group="mood", group_weight=10_000, content="w"),
    ]
    assert all(ids(run(prioritized, ["mood"], seed=f"c|{t}")) == ["high"] for t in range(20))


def test_group_scoring() -> None:
    """Docs example: "sing me a song" fits both song entries; "... about Ghosts" only Entry 2."""
    book = [
        entry("cat", keys=["song", "sing", "Black Cat"], group="songs", content="Black cat song."),
        entry("ghosts", keys=["song", "sing", "Ghosts"], group="songs", content="Ghost song."),
    ]
    settings = S(use_group_scoring=True)
    assert all(
        ids(run(book, ["sing me a song about Ghosts"], settings, seed=f"c|{t}")) == ["ghosts"] for t in range(10)
    )
    assert {ids(run(book, ["sing me a song"], settings, seed=f"c|{t}"))[0] for t in range(30)} == {"cat", "ghosts"}


def test_entry_in_several_groups() -> None:
    book = [
        entry("both", keys=["x"], group="a, b", group_override=True, insertion_order=200, content="1"),
        entry("a2", keys=["x"], group="a", content="2"),
        entry("b2", keys=["x"], group="b", content="3"),
        entry("free", keys=["x"], content="4"),
    ]
    assert ids(run(book, ["x"])) == ["both", "free"]


# -- timed effects -----------------------------------------------------------------------------------------------


def _turn(book: list, text: str, length: int, state: list[EntryState]) -> tuple[list[str], list[EntryState]]:
    """One turn at chat length `length`; returns what fired and the state after it."""
    result = run(compiled(book), [text] * length, chat_length=length, state=state)
    stored = {(s.entry_id, s.kind): s for s in state}
    for key, value in result.timed.changes.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    return ids(result), list(stored.values())


def test_sticky_stays_after_the_keys_are_gone() -> None:
    book = [entry("s", keys=["storm"], sticky=3, content="It storms.")]
    fired, state = _turn(book, "a storm", 2, [])
    assert fired == ["s"] and state == [EntryState(entry_id="s", kind="sticky", start=2, end=5)]
    fired, state = _turn(book, "calm", 4, state)
    assert fired == ["s"]
    result = run(compiled(book), ["calm"] * 4, chat_length=4, state=state)
    assert result.activated[0][1].reason == "sticky"
    fired, state = _turn(book, "calm", 5, state)  # 3 messages later it ends
    assert fired == [] and state == []


def test_cooldown_and_sticky_then_cooldown() -> None:
    book = [entry("c", keys=["storm"], cooldown=2, content="x")]
    fired, state = _turn(book, "storm", 2, [])
    assert fired == ["c"]
    assert _turn(book, "storm", 3, state)[0] == []  # on cooldown
    assert _turn(book, "storm", 4, state)[0] == ["c"]  # cooldown over
    both = [entry("b", keys=["storm"], sticky=2, cooldown=2, content="x")]
    fired, state = _turn(both, "storm", 2, [])
    assert fired == ["b"]
    fired, state = _turn(both, "storm", 3, state)
    assert fired == ["b"]  # sticky beats its own cooldown
    fired, state = _turn(both, "storm", 4, state)  # sticky ends: the cooldown starts now, protected
    assert fired == [] and [(s.kind, s.start, s.end, s.protected) for s in state] == [("cooldown", 4, 6, True)]
    assert _turn(both, "storm", 6, state)[0] == ["b"]


def test_delay() -> None:
    book = [entry("d", keys=["storm"], delay=4, content="x")]
    assert _turn(book, "storm", 3, [])[0] == []
    assert _turn(book, "storm", 4, [])[0] == ["d"]


def test_a_regenerated_reply_decides_afresh() -> None:
    """SillyTavern drops effects an earlier attempt at the same chat length set ("chat not advanced")."""
    book = [entry("c", keys=["storm"], cooldown=5, content="x")]
    fired, state = _turn(book, "storm", 2, [])
    assert fired == ["c"]
    assert _turn(book, "storm", 2, state)[0] == ["c"]  # the swipe of the same turn is not on cooldown
    assert _turn(book, "storm", 4, state)[0] == []  # the next turn is


def test_sticky_entry_wins_its_group() -> None:
    book = [
        entry("s", keys=["mood"], group="mood", sticky=5, content="s"),
        entry("t", keys=["mood"], group="mood", group_override=True, insertion_order=900, content="t"),
    ]
    state = [EntryState(entry_id="s", kind="sticky", start=1, end=9)]
    assert ids(run(compiled(book), ["mood"] * 3, chat_length=3, state=state)) == ["s"]


# -- budget --------------------------------------------------------------------------------------------------------


def test_budget_admits_by_order_and_stops_at_the_first_overflow() -> None:
    book = [
        entry("big", keys=["k"], content="b" * 400, insertion_order=50),  # ~101 tokens
        entry("high", keys=["k"], content="h" * 200, insertion_order=90),  # ~51 tokens
        entry("low", keys=["k"], content="l" * 20, insertion_order=10),
        entry("always", keys=["k"], content="a" * 800, insertion_order=5, ignore_budget=True),
    ]
    result = run(book, ["k"], S(budget_percent=10), context_tokens=1000)  # 100 tokens
    assert ids(result) == ["high", "always"]
    assert "budget of 100 tokens" in result.dropped["big"] and "low" not in ids(result)
    assert ids(run(book, ["k"], S(budget_percent=100, budget_cap=60), context_tokens=1000)) == ["high", "always"]


def test_a_books_own_budget() -> None:
    book = [
        entry("a", keys=["k"], content="a" * 200, insertion_order=9),
        entry("b", keys=["k"], content="b" * 60, insertion_order=1),
    ]
    result = run(compiled(book, token_budget=60), ["k"])
    assert ids(result) == ["a"] and "its book's budget" in result.dropped["b"]


def test_the_most_a_scan_could_admit() -> None:
    """The room lore keeps in the prompt: all of it, unless the budget (or a book's own) is smaller."""
    small = [entry("a", keys=["k"], content="a" * 40), entry("b", keys=["z"], content="b" * 40)]  # 11 tokens each
    assert run(small, ["nothing fires"], S(), context_tokens=1000).room == 22
    big = [*small, entry("c", keys=["k"], content="c" * 400)]
    assert run(big, ["k"], S(budget_percent=10), context_tokens=1000).room == 100
    assert run(compiled(big, token_budget=30), ["k"], S(), context_tokens=1000).room == 30
    free = [*small, entry("d", keys=["k"], content="d" * 400, ignore_budget=True)]
    assert run(free, ["k"], S(budget_percent=1), context_tokens=1000).room == 10 + 101
    off = [*small, entry("e", keys=["k"], content="e" * 400, enabled=False)]
    assert run(off, ["k"], S(), context_tokens=1000).room == 22


# -- V3 decorators ---------------------------------------------------------------------------------------------------


def test_decorator_parsing() -> None:
    found, content = decorators.parse("@@depth 3\n@@role assistant\n@@unknown 1\n@@@scan_depth 2\n\nThe content.\n")
    assert (found.depth, found.role, found.scan_depth, content) == (3, "assistant", 2, "The content.")
    found, _ = decorators.parse("@@depth 5\n@@@depth 9\n@@instruct_depth 4\n@@@scan_depth 7\nx")
    assert (found.depth, found.scan_depth) == (5, 7)  # a fallback only when the one above is unknown/ignored
    found, _ = decorators.parse("@@depth 5\n@@depth 8\n@@role wizard\nx")
    assert found.depth == 5 and found.role is None  # the first of a name counts; invalid values are ignored
    assert decorators.parse("no decorators\n@@depth 3")[1] == "no decorators\n@@depth 3"


def test_activation_decorators() -> None:
    def fires(content: str, text: str = "storm", assistant: int = 3, **ctx: object) -> bool:
        return ids(run([entry("d", keys=["storm"], content=content)], [text], assistant_messages=assistant, **ctx)) == [
            "d"
        ]

    assert fires("@@activate\nx", text="calm") and not fires("@@dont_activate\nx")
    assert fires("@@activate\n@@dont_activate\nx", text="calm")  # @@activate wins
    assert not fires("@@activate_only_after 4\nx", assistant=3) and fires("@@activate_only_after 3\nx", assistant=3)
    assert fires("@@activate_only_every 2\nx", assistant=4) and not fires("@@activate_only_every 2\nx", assistant=3)
    assert fires("@@is_greeting 1\nx", greeting_index=1) and not fires("@@is_greeting 1\nx", greeting_index=0)
    assert fires("@@is_greeting 1\nx")  # no greeting known: ignored
    assert fires("@@additional_keys rain, hail\nx", text="storm and hail")
    assert not fires("@@additional_keys rain, hail\nx", text="storm")
    assert not fires("@@exclude_keys calm\nx", text="storm then calm")
    assert not fires("@@probability 0\nx")


def test_match_memory_decorators() -> None:
    keep = [entry("k", keys=["storm"], content="@@keep_activate_after_match\nStorm lore.")]
    fired, state = _turn(keep, "storm", 2, [])
    assert fired == ["k"] and state[0].kind == "matched"
    assert _turn(keep, "calm", 4, state)[0] == ["k"]  # matched before: in, whatever the chat says
    once = [entry("o", keys=["storm"], content="@@dont_activate_after_match\nOnly once.")]
    fired, state = _turn(once, "storm", 2, [])
    assert fired == ["o"] and _turn(once, "storm", 4, state)[0] == []


def test_placement_decorators() -> None:
    book = compiled(
        [
            entry("d", keys=["k"], content="@@depth 0\n@@role assistant\nPrefill-ish."),
            entry("p", keys=["k"], content="@@position after_desc\n@@depth 3\nAfter the card."),
        ]
    )
    by_id = {e.id: e for e in book}
    assert (by_id["d"].placement, by_id["d"].depth, by_id["d"].role, by_id["d"].content) == (
        "at_depth",
        0,
        "assistant",
        "Prefill-ish.",
    )
    assert by_id["p"].placement == "after_char"  # @@position wins over @@depth
    result = run(book, ["k"])
    assert ids(result) == ["d", "p"]


# -- vector activation -------------------------------------------------------------------------------------------------


def test_vector_hits_replace_only_the_key_check() -> None:
    book = [
        entry("v", keys=[], content="The harbour at dusk.", vectorized=True),
        entry("cool", keys=[], content="Vector but on cooldown.", vectorized=True, cooldown=5),
    ]
    state = [EntryState(entry_id="cool", kind="cooldown", start=0, end=10)]
    result = run(book, ["boats"], vector_hits={"v": 0.81, "cool": 0.9}, state=state, chat_length=2)
    assert ids(result) == ["v"] and why(result, "v") == "close to the recent chat (similarity 0.81)"


def test_names_in_content_take_part_in_recursion() -> None:
    book = [
        entry("intro", keys=["tavern"], content="{{char}} runs the tavern."),
        entry("sage", keys=["Sage"], content="Sage is old."),
    ]
    result = run(book, ["the tavern"])  # tests' character is Sage
    assert ids(result) == ["intro", "sage"] and result.activated[0][0].content == "Sage runs the tavern."


def test_lore_keeps_its_room_in_the_prompt_when_nothing_fires() -> None:
    from bostonia.lore.injector import place

    book = [entry("a", keys=["k"], content="a" * 400)]
    quiet, fired = (place(run(book, [text], S(), context_tokens=1000), S()) for text in ("nothing", "k"))
    assert [(i.name, i.content) for i in quiet] == [("lore", "")]
    assert quiet[0].reserve == fired[0].reserve >= 101  # the same room, whether the entry fired or not
    assert [i.content for i in fired[1:]] == ["a" * 400]
