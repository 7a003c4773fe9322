from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from bostonia.characters.schemas import Character
from bostonia.llm.base import ChatMessage
from bostonia.prompt.builder import (
    DEFAULT_SYSTEM_PROMPT,
    DROP_CHUNK_FRACTION,
    PER_MESSAGE_OVERHEAD,
    STANDING_GAP_CHUNKS,
    BuiltPrompt,
    Persona,
    PromptInjection,
    build_prompt,
    history_start,
    system_parts,
)
from bostonia.prompt.macros import MacroContext, expand, expand_with
from bostonia.prompt.reasoning import without_reasoning


def character(**fields: Any) -> Character:
    base = dict(
        id="c",
        name="Mira",
        tagline="",
        description="{{char}} flies ships.",
        personality="brave",
        scenario="{{user}} boards the ship.",
        greeting="Hi {{user}}",
        example_dialogue="<START>\n{{char}}: Hi",
        system_prompt="",
        post_history_instructions="",
        alternate_greetings=[],
        creator_notes="",
        creator_name="",
        character_version="",
        tags=[],
        avatar_url=None,
        visibility="public",
        content_tier="sfw",
        is_premium=False,
        premium_credits=0,
        creator_id=None,
        is_bundled=False,
        settings={},
        extensions={},
        avg_rating=0,
        rating_count=0,
        favorite_count=0,
        total_conversations=0,
        total_messages=0,
        created_at="",
        updated_at="",
    )
    return msgspec.convert({**base, **fields}, Character)


def words(text: str) -> int:
    return len(text.split())


def test_macros_are_case_insensitive_and_cover_tavern_spellings() -> None:
    text = "{{char}} greets {{User}}; <BOT> waves at <user>. {{ char }} {{unknown}}"
    assert expand(text, char="Mira", user="Sam") == "Mira greets Sam; Mira waves at Sam. Mira {{unknown}}"


def card_system_text(char: Character, user_name: str, persona: Persona | None = None) -> str:
    return "\n\n".join(text for _, text in system_parts(char, persona, MacroContext(char=char.name, user=user_name)))


def test_system_text_holds_the_card_with_macros_expanded() -> None:
    text = card_system_text(character(), user_name="Sam")
    assert "Mira flies ships." in text and "Sam boards the ship." in text and "personality: brave" in text
    assert "Mira: Hi" in text and "<START>" not in text and "{{" not in text
    assert text.startswith(expand(DEFAULT_SYSTEM_PROMPT, char="Mira", user="Sam"))


def test_card_system_prompt_replaces_the_default_and_can_include_it() -> None:
    own = card_system_text(character(system_prompt="Only pirate talk."), "Sam")
    assert own.startswith("Only pirate talk.") and "roleplay" not in own
    wrapped = card_system_text(character(system_prompt="{{original}} Arr."), "Sam")
    assert wrapped.startswith(expand(DEFAULT_SYSTEM_PROMPT, char="Mira", user="Sam")) and "Arr." in wrapped


def test_history_follows_the_system_message() -> None:
    history = [ChatMessage("assistant", "Hi Sam"), ChatMessage("user", "Hello")]
    built = build_prompt(character(), history, user_name="Sam", budget=1000, count_tokens=words)
    assert [m.role for m in built.messages] == ["system", "assistant", "user"]
    assert built.dropped_messages == 0
    assert built.tokens == sum(words(m.content) + PER_MESSAGE_OVERHEAD for m in built.messages)


def test_oldest_turns_are_dropped_to_fit_the_budget() -> None:
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(20)]
    system_cost = words(card_system_text(character(), "Sam")) + PER_MESSAGE_OVERHEAD
    per_turn = 12 + PER_MESSAGE_OVERHEAD
    built = build_prompt(character(), history, user_name="Sam", budget=system_cost + 5 * per_turn, count_tokens=words)
    kept = [int(m.content.split()[1]) for m in built.messages[1:]]
    assert kept[-1] == 19 and len(kept) <= 5  # the newest turns, within the budget
    assert built.dropped_messages == 20 - len(kept)
    assert built.tokens <= system_cost + 5 * per_turn


def test_history_start_moves_in_chunks_not_every_turn() -> None:
    """Once the context is full, the first kept message must stay put for many turns (KV cache reuse)."""
    starts = []
    for length in range(10, 200):
        costs = [10] * length
        starts.append(history_start(costs, available=400, chunk=100))
    changes = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert changes <= (200 * 10 - 400) / 100 + 1  # about once per chunk of new conversation
    for length, start in zip(range(10, 200), starts, strict=True):
        assert (length - start) * 10 <= 400  # and always within the budget


def eight_messages_with(*injections: PromptInjection) -> BuiltPrompt:
    history = [ChatMessage("user" if i % 2 else "assistant", f"m{i}") for i in range(8)]
    return build_prompt(
        character(), history, user_name="Sam", budget=10_000, count_tokens=words, injections=list(injections)
    )


def test_injections_sit_at_a_fixed_depth_from_the_end() -> None:
    built = eight_messages_with(
        PromptInjection(name="lore", content="The tower is haunted.", depth=2),
        PromptInjection(name="memory", content="Sam likes tea.", depth=2),
    )
    contents = [m.content for m in built.messages]
    assert contents[-3] == "The tower is haunted.\n\nSam likes tea." and contents[-2:] == ["m6", "m7"]
    assert built.messages[-3].role == "system"
    assert [s.name for s in built.sections][-3] == "lore+memory"


def test_only_a_message_of_droppable_injections_alone_is_marked_droppable() -> None:
    built = eight_messages_with(
        PromptInjection(name="memory", content="Sam likes tea.", depth=4, droppable=True),
        PromptInjection(name="memory", content="Sam asked of the owl.", depth=0),
        PromptInjection(name="lore", content="The tower is haunted.", depth=2),
        PromptInjection(name="memory", content="Sam fears bats.", depth=2, droppable=True),
    )
    assert built.droppable == ("Sam likes tea.",)  # the depth-2 message holds lore too: it is not
    assert "Sam likes tea." in [m.content for m in built.messages]


def test_an_injections_room_holds_whether_it_is_full_empty_or_split() -> None:
    """Lore that fires a lot one turn and nothing the next keeps one room: where the history starts stays put."""
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(100)]

    def start(*injections: PromptInjection) -> int:
        built = build_prompt(
            character(), history, user_name="Sam", budget=1000, count_tokens=words, injections=injections
        )
        return built.dropped_messages

    room = PromptInjection(name="lore", content="", depth=2, reserve=200)
    empty = start(room)
    assert empty > start()  # the room is kept even when nothing fired
    one = PromptInjection(name="lore", content="w " * 80, depth=2)
    two = PromptInjection(name="lore", content="w " * 80, depth=5)
    assert start(room, one) == start(room, one, two) == empty  # within the room, however it is split
    assert start(room, PromptInjection(name="lore", content="w " * 700, depth=2)) > empty  # more than the room
    # Rooms are per name: memory's reserve does not make room for lore.
    memory = PromptInjection(name="memory", content="", depth=3, reserve=500)
    assert start(room, memory, one, two) > empty


def test_a_summary_is_shown_only_for_messages_the_prompt_leaves_out() -> None:
    """Of the summaries offered, the newest that covers only dropped messages; none while everything fits.
    So the text above the history changes only when the kept history's start moves."""
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(100)]
    room = PromptInjection(name="summary", content="", depth=100_000, reserve=40)
    old = PromptInjection(name="summary", content="[Old story]", depth=100_000, covers=20)
    new = PromptInjection(name="summary", content="[New story]", depth=100_000, covers=80)

    def build(budget: int, *injections: PromptInjection) -> Any:
        return build_prompt(
            character(), history, user_name="Sam", budget=budget, count_tokens=words, injections=injections
        )

    small = build(1000, room, old, new)
    assert 20 <= small.dropped_messages < 80
    assert small.dropped_messages == build(1000, room).dropped_messages  # whichever is shown, the same room
    shown = [m.content for m in small.messages if "story]" in m.content]
    assert shown == ["[Old story]"] and small.messages[1].content == "[Old story]"  # above the history
    assert not [m for m in build(100_000, room, old, new).messages if "story]" in m.content]  # all fits
    assert [m.content for m in build(300, room, old, new).messages if "story]" in m.content] == ["[New story]"]


def test_a_summary_written_meanwhile_waits_until_the_kept_history_moves() -> None:
    """While the history starts where the previous prompt had it, that prompt's choice stays (a summary that
    appeared since would make the model re-read everything); once the start moves, the newest that fits."""
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(100)]
    room = PromptInjection(name="summary", content="", depth=100_000, reserve=40)
    story = PromptInjection(name="summary", content="[Story]", depth=100_000, covers=20)

    def build(*injections: PromptInjection, standing: Any = None) -> Any:
        return build_prompt(
            character(), history, user_name="Sam", budget=1000, count_tokens=words, injections=injections,
            standing=standing,
        )  # fmt: skip

    before = build(room)  # no summary yet
    assert before.standing == {"summary": 0}
    waiting = build(room, story, standing=(before.dropped_messages, before.standing))
    assert "[Story]" not in [m.content for m in waiting.messages] and waiting.standing == {"summary": 0}
    moved = build(room, story, standing=(before.dropped_messages - 1, before.standing))
    assert "[Story]" in [m.content for m in moved.messages] and moved.standing == {"summary": 20}
    kept = build(room, story, standing=(moved.dropped_messages, moved.standing))
    assert "[Story]" in [m.content for m in kept.messages]


def test_after_a_move_the_shown_summary_stays_until_it_falls_two_chunks_behind() -> None:
    """A move keeps the KV cache (a context shift) only if the text above the history is unchanged: the
    summary the last prompt showed stays while the messages between it and the new start cost at most
    `STANDING_GAP_CHUNKS` chunks; past that, the newest that fits."""
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(100)]
    room = PromptInjection(name="summary", content="", depth=100_000, reserve=40)

    def story(covers: int) -> PromptInjection:
        return PromptInjection(name="summary", content=f"[Story to {covers}]", depth=100_000, covers=covers)

    def build(*injections: PromptInjection, standing: Any = None) -> Any:
        return build_prompt(
            character(), history, user_name="Sam", budget=1000, count_tokens=words, injections=injections,
            standing=standing,
        )  # fmt: skip

    start = build(room).dropped_messages
    chunk = int(1000 * DROP_CHUNK_FRACTION)
    cost = words(history[0].content) + PER_MESSAGE_OVERHEAD
    near = start - chunk // cost  # its gap to the start: one chunk
    far = start - (STANDING_GAP_CHUNKS * chunk) // cost - 2  # just over the limit
    newest = story(start - 2)
    shown = build(room, story(near), newest, standing=(start - 5, {"summary": near}))
    assert f"[Story to {near}]" in [m.content for m in shown.messages] and shown.standing == {"summary": near}
    behind = build(room, story(far), newest, standing=(start - 5, {"summary": far}))
    assert f"[Story to {start - 2}]" in [m.content for m in behind.messages]
    # The one shown is no longer offered (rewritten after an edit): the newest that fits, not nothing.
    gone = build(room, newest, standing=(start - 5, {"summary": near}))
    assert gone.standing == {"summary": start - 2}


def test_persona_description_joins_the_system_message() -> None:
    text = card_system_text(character(), "Ren", Persona(name="Ren", description="A {{char}} fan from the docks."))
    assert "About Ren: A Mira fan from the docks." in text


def test_continuing_keeps_the_last_assistant_message_last() -> None:
    history = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Well, I")]
    built = build_prompt(
        character(post_history_instructions="Be brief."),
        history,
        user_name="Sam",
        budget=10_000,
        count_tokens=words,
        injections=[PromptInjection(name="lore", content="x", depth=0)],
        continuing=True,
    )
    assert built.messages[-1] == ChatMessage("assistant", "Well, I")


def test_pick_is_stable_per_conversation_and_random_is_not() -> None:
    first = expand_with("{{pick:red,green,blue,amber}}", MacroContext(char="a", user="b", seed="conv-1"))
    assert all(
        expand_with("{{pick:red,green,blue,amber}}", MacroContext(char="a", user="b", seed="conv-1")) == first
        for _ in range(10)
    )
    seeds = {
        expand_with("{{pick:red,green,blue,amber}}", MacroContext(char="a", user="b", seed=f"c{i}")) for i in range(40)
    }
    assert len(seeds) > 1
    rolls = {expand_with("{{random:a,b,c,d}}", MacroContext(char="a", user="b")) for _ in range(60)}
    assert len(rolls) > 1


def test_dice_time_comments_and_idle() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 3, 4, 15, 7, tzinfo=UTC)
    context = MacroContext(char="a", user="b", now=now, last_user_message_at=now - timedelta(hours=2, minutes=5))
    assert expand_with("{{time}} {{date}} {{weekday}}", context) == "15:07 March 04, 2026 Wednesday"
    assert expand_with("x{{// a note}}y", context) == "xy"
    assert expand_with("{{idle_duration}}", context) == "2 hours"
    for _ in range(30):
        assert 3 <= int(expand_with("{{roll:3d6}}", context)) <= 18
        assert 1 <= int(expand_with("{{roll:20}}", context)) <= 20
    assert expand_with("{{roll:banana}}", context) == "{{roll:banana}}"


def test_the_newest_message_is_kept_even_when_nothing_fits() -> None:
    built = build_prompt(
        character(), [ChatMessage("user", "hello there")], user_name="Sam", budget=1, count_tokens=words
    )
    assert built.messages[-1].content == "hello there"


def test_injections_give_way_biggest_first_when_the_card_and_newest_message_leave_no_room() -> None:
    """A small context: the prompt stays within its budget by leaving injections out, not by overflowing."""
    history = [ChatMessage("user", "old " * 30), ChatMessage("user", "hello there")]
    small, big = "Sam likes tea.", "The tower is haunted. " * 4
    injections = [PromptInjection(name="memory", content=small, depth=0), PromptInjection(name="lore", content=big)]

    def build(budget: int) -> Any:
        return build_prompt(
            character(), history, user_name="Sam", budget=budget, count_tokens=words, injections=injections
        )

    roomy = build(1000)
    assert small in [m.content for m in roomy.messages] and big in [m.content for m in roomy.messages]
    card_and_newest = words(roomy.messages[0].content) + 8 + 2 + 8  # the system message and "hello there"
    tight = build(card_and_newest + words(small) + 8)
    assert [m.content for m in tight.messages][1:] == ["hello there", small]  # the lore gave way, not the memory
    assert tight.tokens <= card_and_newest + words(small) + 8
    assert [m.content for m in build(card_and_newest).messages][1:] == ["hello there"]


def test_post_history_instructions_follow_the_last_user_message() -> None:
    built = build_prompt(
        character(post_history_instructions="Reply as {{char}} in one line."),
        [ChatMessage("user", "Hi")],
        user_name="Sam",
        budget=1000,
        count_tokens=words,
    )
    assert built.messages[-1] == ChatMessage("user", "Hi\n\nReply as Mira in one line.")
    assert built.sections[-1].name == "post_history_instructions"


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("<think>Plan the reply.</think>\n\nHello.", "Hello."),
        ("<Thinking type='x'>a</Thinking> Hi <reasoning>b</reasoning>there.", "Hi there."),
        ("<think>Still thinking, no close yet", "<think>Still thinking, no close yet"),  # being written: kept
        ("<think>Only thoughts.</think>", "<think>Only thoughts.</think>"),  # nothing else: the text stands
        ("I <3 thinking < about it", "I <3 thinking < about it"),
    ],
)
def test_a_replys_thinking_is_not_read_back(text: str, read: str) -> None:
    assert without_reasoning(text) == read
