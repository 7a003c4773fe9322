"""What is said out loud: sentences cut from a stream, markdown and emoji left out, numbers in words;
and the scheduler's turn-taking between users."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bostonia.errors import RateLimited
from bostonia.voice.cleanup import speakable
from bostonia.voice.numbers import cardinal, ordinal, read_numbers, year
from bostonia.voice.scheduler import FairScheduler
from bostonia.voice.sentences import SentenceCutter, split_sentences

REPLY = (
    'Hello there, Mr. Smith! *She smiles warmly. Then she waves.* It costs $5.50 today. "Really?" he asked.\n'
    "1. First item\n2. Second item\n```python\nprint('not. spoken.')\n```\nDone... ok? The value is 3.14 now."
)


def streamed(text: str, *, skip_actions: bool = False, seed: int = 0, quick_start: bool = False) -> list[str]:
    cutter = SentenceCutter(skip_actions=skip_actions, quick_start=quick_start)
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 7)
        out += cutter.feed(text[i : i + n])
        i += n
    return out + cutter.finish()


def test_sentences_of_a_reply() -> None:
    assert split_sentences(REPLY) == [
        "Hello there, Mr. Smith!",
        "*She smiles warmly.",
        "Then she waves.*",
        "It costs $5.50 today.",
        '"Really?"',
        "he asked.",
        "1. First item",
        "2. Second item",
        "Done...",
        "ok?",
        "The value is 3.14 now.",
    ]


def test_actions_can_be_left_out() -> None:
    sentences = split_sentences(REPLY, skip_actions=True)
    assert not any("smiles" in s or "waves" in s for s in sentences)
    assert sentences[:2] == ["Hello there, Mr. Smith!", "It costs $5.50 today."]
    # **bold** is not an action; an action inside a sentence leaves the sentence whole.
    assert split_sentences("I **really** mean it *nods* today.", skip_actions=True) == ["I **really** mean it  today."]


@pytest.mark.parametrize("skip_actions", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_a_stream_is_cut_like_the_whole_text(skip_actions: bool, seed: int) -> None:
    assert streamed(REPLY, skip_actions=skip_actions, seed=seed) == split_sentences(REPLY, skip_actions=skip_actions)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab .!?*\n`3,\"'", max_size=80), st.integers(0, 10**6))
def test_any_stream_is_cut_like_the_whole_text(text: str, seed: int) -> None:
    for skip in (False, True):
        assert streamed(text, skip_actions=skip, seed=seed) == split_sentences(text, skip_actions=skip)
    quick = SentenceCutter(quick_start=True)
    assert streamed(text, seed=seed, quick_start=True) == quick.feed(text) + quick.finish()


THINKING_REPLY = (
    "<think>\nThey asked about the sea. Answer briefly!\n```\nnot code\n```\n</think>\n\n"
    "The sea is wide. <3 Boats sail on it. <Thinking>More. Thoughts.</THINKING> Gulls cry."
)


@pytest.mark.parametrize("seed", range(8))
def test_a_reasoning_models_thinking_is_never_spoken(seed: int) -> None:
    """Its tags may arrive cut anywhere across pieces; what follows is spoken as usual."""
    expected = ["The sea is wide.", "<3 Boats sail on it.", "Gulls cry."]
    assert split_sentences(THINKING_REPLY) == expected
    assert streamed(THINKING_REPLY, seed=seed) == expected
    assert split_sentences("Hi. <think>left open, never closed. Still thinking") == ["Hi."]
    assert split_sentences("<thinker> nods. <b>Yes</b>.") == ["<thinker> nods.", "<b>Yes</b>."]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<think>", "</think>", "<thi", "nk>", "</", "a", "b.", " ", "\n", "<", ">", "!"]), max_size=30
    ),
    st.integers(0, 10**6),
)
def test_any_stream_with_thinking_is_cut_like_the_whole_text(parts: list[str], seed: int) -> None:
    text = "".join(parts)
    assert streamed(text, seed=seed) == split_sentences(text)
    assert not any("<think>" in sentence for sentence in split_sentences(text))


def test_a_quick_start_cuts_the_first_sentence_at_a_comma() -> None:
    """While a reply streams, the first sentence is spoken from its first comma on: less to synthesise
    before the first audio. Later sentences stay whole."""
    text = "The knight drew his sword, and the blade caught the light. Far below, the bells rang."
    assert streamed(text, quick_start=True) == [
        "The knight drew his sword,",
        "and the blade caught the light.",
        "Far below, the bells rang.",
    ]
    assert streamed("Yes, sir. Of course, right away.", quick_start=True) == ["Yes, sir.", "Of course, right away."]


def test_a_sentence_ends_only_when_the_next_piece_shows_it() -> None:
    cutter = SentenceCutter()
    assert cutter.feed("Hello there.") == []  # "there." may be "there.com" or an abbreviation
    assert cutter.feed(" How") == ["Hello there."]
    assert cutter.feed(" are you, Dr.") == []
    assert cutter.feed(" Who?") == []
    assert cutter.feed("\n") == ["How are you, Dr. Who?"]
    assert cutter.finish() == []


def test_long_sentences_are_cut_at_a_comma() -> None:
    text = "word " * 12 + "then a pause, " + "more words " * 20 + "and the end."
    parts = split_sentences(text, max_chars=100)
    assert all(len(p) <= 100 for p in parts) and len(parts) > 2
    assert parts[0].endswith("then a pause,")  # a comma, not the hundredth character
    assert " ".join(parts).split() == text.split()  # no word lost or broken


def test_markdown_links_emoji_are_not_read() -> None:
    assert speakable("## **Bold** and _italic_ `code` ~~gone~~ text 😀🎉👍🏽") == "Bold and italic code gone text"
    assert speakable("See [the docs](https://example.com/docs) or https://www.example.org/x?y=1.") == (
        "See the docs or a link to example dot org."
    )
    assert speakable("- a list item") == "a list item"
    assert speakable("> quoted") == "quoted"
    assert speakable("| a | b |") == "a, b"
    assert speakable("<b>html</b> & friends") == "html and friends"
    assert speakable("mail me@example.com") == "mail an email address"
    assert speakable("😀 *** ---") == ""  # nothing to say


def test_numbers_are_read_naturally() -> None:
    assert cardinal(0) == "zero"
    assert cardinal(1_234_567) == "one million two hundred thirty-four thousand five hundred sixty-seven"
    assert [ordinal(n) for n in (1, 2, 3, 5, 12, 20, 21, 101)] == [
        "first",
        "second",
        "third",
        "fifth",
        "twelfth",
        "twentieth",
        "twenty-first",
        "one hundred first",
    ]
    assert [year(y) for y in (1999, 1900, 2005, 2024, 1066)] == [
        "nineteen ninety-nine",
        "nineteen hundred",
        "two thousand five",
        "twenty twenty-four",
        "one thousand sixty-six",
    ]
    cases = {
        "It costs $5.50": "It costs five dollars and fifty cents",
        "£1.01 and €3.5 million": "one pound and one penny and three point five million euros",
        "45% of 1,234 people": "forty-five percent of one thousand two hundred thirty-four people",
        "On 2024-03-05 at 3:30 pm": "On March fifth, twenty twenty-four at three thirty p m",
        "at 10:05, by 23:00": "at ten oh five, by twenty-three hundred",
        "the 1990s, in 1999": "the nineteen nineties, in nineteen ninety-nine",
        "March 3rd, the 21st": "March third, the twenty-first",
        "pages 3-5": "pages three to five",
        "1, 2, 3, -4 and 0.5": "one, two, three, minus four and zero point five",
        "agent 007": "agent zero zero seven",
    }
    for text, spoken in cases.items():
        assert read_numbers(text) == spoken, text


# -- the scheduler ----------------------------------------------------------------------------------------


def test_users_take_turns() -> None:
    """One worker: a user with ten sentences queued first, another with two after them; the second user's
    sentences run after at most one more of the first's, not after all ten."""
    order: list[str] = []
    gate = threading.Event()

    def job(name: str) -> str:
        gate.wait(5)
        order.append(name)
        return name

    async def run() -> None:
        scheduler = FairScheduler(1)
        long = [scheduler.submit("alice", lambda n=n: job(f"a{n}")) for n in range(10)]
        await asyncio.sleep(0.01)  # a0 is running (held by the gate)
        short = [scheduler.submit("bob", lambda n=n: job(f"b{n}")) for n in range(2)]
        gate.set()
        assert await asyncio.gather(*long, *short) == [*(f"a{n}" for n in range(10)), "b0", "b1"]
        scheduler.shutdown()

    asyncio.run(run())
    assert order[:5] == ["a0", "a1", "b0", "a2", "b1"] or order[:4] == ["a0", "b0", "a1", "b1"]
    assert order.index("b1") <= 4


def test_cancelled_jobs_never_run_and_queues_are_bounded() -> None:
    ran: list[int] = []

    async def run() -> None:
        scheduler = FairScheduler(1, max_queued_per_user=2)
        first = scheduler.submit("u", lambda: time.sleep(0.05) or ran.append(0))  # running at once
        second = scheduler.submit("u", lambda: ran.append(1))  # waiting
        scheduler.submit("u", lambda: ran.append(2))  # waiting: the cap
        with pytest.raises(RateLimited):
            scheduler.submit("u", lambda: ran.append(3))
        scheduler.submit("other", lambda: ran.append(4))  # the cap is per user
        second.cancel()
        await first
        await asyncio.sleep(0.1)
        scheduler.shutdown()

    asyncio.run(run())
    assert 1 not in ran and 3 not in ran
    assert sorted(ran) == [0, 2, 4]
