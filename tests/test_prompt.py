from __future__ import annotations

from typing import Any

import msgspec

from bostonia.characters.schemas import Character
from bostonia.llm.base import ChatMessage
from bostonia.prompt.builder import DEFAULT_SYSTEM_PROMPT, PER_MESSAGE_OVERHEAD, build_prompt, card_system_text
from bostonia.prompt.macros import expand


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


def test_system_text_holds_the_card_with_macros_expanded() -> None:
    text = card_system_text(character(), user_name="Sam")
    assert "Mira flies ships." in text and "Sam boards the ship." in text and "personality: brave" in text
    assert "Mira: Hi" in text and "<START>" not in text and "{{" not in text
    assert text.startswith(expand(DEFAULT_SYSTEM_PROMPT, char="Mira", user="Sam"))


def test_card_system_prompt_replaces_the_default_and_can_include_it() -> None:
    own = card_system_text(character(system_prompt="Only pirate talk."), user_name="Sam")
    assert own.startswith("Only pirate talk.") and "roleplay" not in own
    wrapped = card_system_text(character(system_prompt="{{original}} Arr."), user_name="Sam")
    assert wrapped.startswith(expand(DEFAULT_SYSTEM_PROMPT, char="Mira", user="Sam")) and "Arr." in wrapped


def test_history_follows_the_system_message() -> None:
    history = [ChatMessage("assistant", "Hi Sam"), ChatMessage("user", "Hello")]
    built = build_prompt(character(), history, user_name="Sam", budget=1000, count_tokens=words)
    assert [m.role for m in built.messages] == ["system", "assistant", "user"]
    assert built.dropped_messages == 0
    assert built.tokens == sum(words(m.content) + PER_MESSAGE_OVERHEAD for m in built.messages)


def test_oldest_turns_are_dropped_to_fit_the_budget() -> None:
    history = [ChatMessage("user" if i % 2 else "assistant", f"turn {i} " + "x " * 10) for i in range(20)]
    system_cost = words(card_system_text(character(), user_name="Sam")) + PER_MESSAGE_OVERHEAD
    per_turn = 12 + PER_MESSAGE_OVERHEAD
    built = build_prompt(character(), history, user_name="Sam", budget=system_cost + 5 * per_turn, count_tokens=words)
    assert [m.content.split()[1] for m in built.messages[1:]] == ["15", "16", "17", "18", "19"]
    assert built.dropped_messages == 15


def test_the_newest_message_is_kept_even_when_nothing_fits() -> None:
    built = build_prompt(
        character(), [ChatMessage("user", "hello there")], user_name="Sam", budget=1, count_tokens=words
    )
    assert built.messages[-1].content == "hello there"


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
