"""How a reply is watched as it streams (the guard's logic, with a recording stand-in for the service): the
word lists on every piece, the full check per group of sentences, the tier of the conversation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bostonia.identity import User
from bostonia.moderation.guard import MAX_WORDS, REPLACEMENT, ChatGuard, conversation_tier
from bostonia.moderation.moderator import TextModerator
from bostonia.moderation.schemas import TextVerdict


class RecordingModeration:
    """What the guard needs of ModerationService: checks (rules + the real classifier), a log, the queue."""

    def __init__(self) -> None:
        from bostonia.moderation.classifier import OffensiveClassifier

        self.moderator = TextModerator(classifier=OffensiveClassifier())
        self.checked: list[str] = []
        self.decisions: list[Any] = []
        self.flags: list[dict[str, Any]] = []

    async def check(self, text: str, context: str = "") -> TextVerdict:
        self.checked.append(text)
        return self.moderator.check(text, context)

    async def record(self, record: Any) -> None:
        self.decisions.append(record)

    async def flag(self, **kwargs: Any) -> None:
        self.flags.append(kwargs)


def user(*, age_verified: bool = False, tier: str = "sfw") -> User:
    return User(
        id="u1",
        email="u@example.com",
        display_name="U",
        role="user",
        tier="free",
        is_active=True,
        age_verified=age_verified,
        content_tier=tier,  # type: ignore[arg-type]
        created_at="2026-01-01T00:00:00Z",
    )


def _character(tier: str) -> Any:
    """The fields of a Character the guard reads."""

    class Stub:
        id = "c1"
        name = "Stub"
        content_tier = tier
        creator_id = "creator-1"

    return Stub()


def conversation() -> Any:
    class Stub:
        id = "v1"
        character_id = "c1"

    return Stub()


@pytest.mark.parametrize(
    ("age_verified", "viewer", "card", "expected"),
    [
        (False, "adult", "adult", "sfw"),  # without a verified age there is only sfw
        (True, "adult", "mature", "mature"),  # the character's tier caps it
        (True, "mature", "adult", "mature"),  # so does the viewer's choice
        (True, "adult", "adult", "adult"),
    ],
)
def test_the_conversation_tier_is_the_lower_of_viewer_and_character(
    age_verified: bool, viewer: str, card: str, expected: str
) -> None:
    assert conversation_tier(user(age_verified=age_verified, tier=viewer), _character(card)) == expected


def watch(moderation: RecordingModeration, *, attempt: int = 0, viewer: User | None = None) -> Any:
    guard = ChatGuard(moderation)  # type: ignore[arg-type]
    return guard.watch_reply(viewer or user(), conversation(), _character("sfw"), "m1", attempt)


def test_an_explicit_phrase_stops_the_stream_at_the_piece_that_completes_it() -> None:
    async def run() -> None:
        moderation = RecordingModeration()
        watcher = watch(moderation)
        assert watcher.feed("She smiles and ") is None
        assert watcher.feed("strokes his hard ") is None
        assert watcher.feed("cock") == 0  # the word lists saw it: stop now, mid-sentence, showing none of it
        verdict = await watcher.finish("She smiles and strokes his hard cock")
        assert verdict.blocked and verdict.replacement == REPLACEMENT and "sexual" in verdict.reason
        assert [d.outcome for d in moderation.decisions] == ["retracted"]
        assert "hard cock" in moderation.decisions[0].excerpt
        assert moderation.flags == []  # allowed at the adult tier: no admin needs to look

    asyncio.run(run())


def test_a_burst_that_goes_on_past_the_phrase_is_shown_only_up_to_the_word_before_it() -> None:
    async def run() -> None:
        watcher = watch(RecordingModeration())
        assert watcher.feed("She smiles and strokes") is None
        burst = " his hard cock. Then she"  # pieces that reached the event loop together
        shown = watcher.feed(burst)
        assert shown is not None and burst[:shown] == " his hard"
        assert watcher.feed(" laughs") == 0  # blocked: nothing more is shown

    asyncio.run(run())


def test_sentences_are_checked_in_groups_of_at_least_twelve_words() -> None:
    async def run() -> None:
        moderation = RecordingModeration()
        watcher = watch(moderation)
        watcher.feed("Hello there. ")
        watcher.feed("Nice day. ")
        await asyncio.sleep(0)
        assert moderation.checked == []  # four words: too few to judge yet
        watcher.feed("The market is busy and the baker is selling warm bread today. ")
        await asyncio.sleep(0.05)
        assert moderation.checked == [
            "Hello there. Nice day. The market is busy and the baker is selling warm bread today. "
        ]
        watcher.feed("Bye.")
        verdict = await watcher.finish("...")
        assert not verdict.blocked and moderation.checked[-1] == "Bye."  # the tail is checked at the end
        assert moderation.decisions == []

    asyncio.run(run())


def test_a_reply_without_punctuation_is_still_checked_as_it_streams() -> None:
    async def run() -> None:
        moderation = RecordingModeration()
        watcher = watch(moderation)
        for _ in range(MAX_WORDS + 5):
            watcher.feed("word ")
        await asyncio.sleep(0.05)
        assert moderation.checked and len(moderation.checked[0].split()) >= MAX_WORDS

    asyncio.run(run())


def test_content_no_tier_allows_is_withdrawn_and_queued_for_an_admin() -> None:
    async def run() -> None:
        moderation = RecordingModeration()
        adult = user(age_verified=True, tier="adult")
        guard = ChatGuard(moderation)  # type: ignore[arg-type]
        watcher = guard.watch_reply(adult, conversation(), _character("adult"), "m1", 1)
        text = "All immigrants are vermin and should be wiped out."
        watcher.feed(text)
        verdict = await watcher.finish(text)
        assert verdict.blocked
        assert [d.outcome for d in moderation.decisions] == ["replaced"]  # a second attempt: replaced
        assert moderation.flags and moderation.flags[0]["categories"] == ["hate"]
        assert moderation.flags[0]["subject_user_id"] == "creator-1"

    asyncio.run(run())


def test_input_in_an_adult_chat_is_logged_without_its_text() -> None:
    async def run() -> None:
        moderation = RecordingModeration()
        guard = ChatGuard(moderation)  # type: ignore[arg-type]
        adult = user(age_verified=True, tier="adult")
        await guard.check_input(adult, conversation(), _character("adult"), "He sucked her tits.")
        assert [(d.outcome, d.excerpt) for d in moderation.decisions] == [("allowed", "")]

    asyncio.run(run())
