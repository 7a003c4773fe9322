"""Group chats' pure logic: who speaks next (each strategy), the parsers around it, and the prompt parts for a
speaker (swap and join keep the cached prefix the same whoever speaks)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import msgspec
import pytest

from bostonia.chat import group
from bostonia.chat.group import TurnContext, pick_speaker, talkativeness_of, trigger_command, turn_context
from bostonia.chat.schemas import Conversation, Member, Message
from bostonia.chat.stage import CastCard, RoomPerson, session_for, stage_for, stop_strings
from bostonia.llm.base import ChatMessage
from bostonia.prompt.builder import Persona, build_prompt
from bostonia.prompt.group import CardText, names_list
from bostonia.prompt.macros import MacroContext, expand_with

ANN, BO, CY = "ann", "bo", "cy"


def members(*talk: float, muted: tuple[str, ...] = ()) -> list[Member]:
    names = {ANN: "Ann Archer", BO: "Bo Brook", CY: "Cy Cole"}
    return [
        Member(character_id=cid, name=names[cid], talkativeness=t, muted=cid in muted)
        for cid, t in zip((ANN, BO, CY), talk, strict=False)
    ]


def context(text: str = "", last: str | None = None, spoken: tuple[str, ...] = (), last_character: str | None = None):
    return TurnContext(text, last, frozenset(spoken), len(spoken), last_character or last)


def picks(strategy: str, cast: list[Member], ctx: TurnContext, n: int = 400, allow_self: bool = False) -> Counter[Any]:
    rng = random.Random(7)
    return Counter(
        pick_speaker(strategy, cast, ctx, allow_self_responses=allow_self, rng=rng)  # type: ignore[arg-type]
        for _ in range(n)
    )


# -- natural --------------------------------------------------------------------------------------------


def test_natural_picks_the_character_named_first() -> None:
    cast = members(0.0, 0.0, 1.0)
    assert picks("natural", cast, context("Hey bo, what does Ann think?")) == Counter({BO: 400})
    assert picks("natural", cast, context("ANN! and Bo")) == Counter({ANN: 400})  # case and order of mention


def test_natural_without_a_name_follows_talkativeness() -> None:
    chatty = picks("natural", members(0.9, 0.1, 0.0), context("hello all"), n=2000)
    assert chatty[ANN] > 3 * chatty[BO] > 0  # Ann speaks up far more often
    assert chatty[CY] < chatty[BO]  # Cy never rolls: only the random fallback picks it


def test_natural_falls_back_to_a_random_member_when_nobody_rolls() -> None:
    quiet = picks("natural", members(0.0, 0.0, 0.0), context("hello"), n=900)
    assert set(quiet) == {ANN, BO, CY} and min(quiet.values()) > 200


def test_muted_members_are_never_picked_not_even_when_named() -> None:
    cast = members(1.0, 1.0, 1.0, muted=(BO,))
    assert BO not in picks("natural", cast, context("Bo, talk to me"))
    assert pick_speaker("natural", members(1, 1, muted=(ANN, BO)), context(), allow_self_responses=True) is None


def test_a_character_does_not_answer_itself_unless_allowed() -> None:
    cast = members(1.0, 0.0)
    # Auto-mode after Ann spoke: the talkative Ann sits out, Bo speaks.
    assert picks("natural", cast, context("Ann here.", last=ANN)) == Counter({BO: 400})
    assert picks("natural", cast, context("Ann here.", last=ANN), allow_self=True) == Counter({ANN: 400})
    # A lone unmuted character may go on (there is nobody else).
    assert pick_speaker("natural", members(1.0), context("x", last=ANN), allow_self_responses=False) == ANN


# -- list, pooled, manual --------------------------------------------------------------------------------


def test_list_order_takes_turns_after_the_last_character_to_speak() -> None:
    cast = members(0.5, 0.5, 0.5)
    assert pick_speaker("list", cast, context("hi"), allow_self_responses=False) == ANN
    assert pick_speaker("list", cast, context("hi", last_character=ANN), allow_self_responses=False) == BO
    assert pick_speaker("list", cast, context("hi", last_character=CY), allow_self_responses=False) == ANN
    skip = members(0.5, 0.5, 0.5, muted=(BO,))
    assert pick_speaker("list", skip, context("hi", last_character=ANN), allow_self_responses=False) == CY


def test_pooled_prefers_who_has_not_spoken_since_a_person_did() -> None:
    cast = members(0.5, 0.5, 0.5)
    assert set(picks("pooled", cast, context("x", last=BO, spoken=(ANN, BO)))) == {CY}
    everyone = picks("pooled", cast, context("x", last=CY, spoken=(ANN, BO, CY)))
    assert set(everyone) == {ANN, BO}  # all have spoken: anyone but the last speaker


def test_manual_never_picks() -> None:
    assert pick_speaker("manual", members(1, 1), context("Ann?"), allow_self_responses=True) is None


# -- reading the chat ------------------------------------------------------------------------------------


def message(role: str, content: str, character: str | None = None, ooc: bool = False) -> Message:
    return msgspec.convert(
        {
            "id": content,
            "conversation_id": "c",
            "parent_id": None,
            "role": role,
            "content": content,
            "model_used": None,
            "tokens_used": None,
            "status": "complete",
            "is_regeneration": False,
            "created_at": "2026-01-01T00:00:00.000Z",
            "edited_at": None,
            "character_id": character,
            "ooc": ooc,
        },
        Message,
    )


def test_turn_context_counts_the_replies_since_a_person_wrote() -> None:
    history = [
        message("assistant", "greeting", ANN),
        message("user", "Hello Bo"),
        message("assistant", "Hi!", BO),
        message("user", "((brb))", ooc=True),
        message("system", "Cy joined the chat."),
        message("assistant", "Welcome, Cy.", ANN),
    ]
    ctx = turn_context(history)
    assert ctx.text == "Welcome, Cy." and ctx.last_speaker == ANN
    assert ctx.spoken_since_person == {ANN, BO} and ctx.replies_since_person == 2
    answer = turn_context(history[:2])
    assert answer.text == "Hello Bo" and answer.last_speaker is None and answer.last_character == ANN


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.8, 0.8), ("0.25", 0.25), (75, 0.75), (None, 0.5), ("lots", 0.5), (-1, 0.5), (True, 0.5), (500, 1.0)],
)
def test_talkativeness_from_cards(value: object, expected: float) -> None:
    assert talkativeness_of(value) == expected


def test_commands_and_out_of_character_lines() -> None:
    assert trigger_command("/trigger") == group.TriggerCommand(None)
    assert trigger_command("  /TRIGGER  Bo Brook ") == group.TriggerCommand("Bo Brook")
    assert trigger_command("/triggered") is None and trigger_command("say /trigger") is None
    assert group.is_out_of_character("(( back in 5 ))") and not group.is_out_of_character("(aside) hi")
    cast = members(0.5, 0.5, 0.5)
    assert group.find_member(cast, "bo").character_id == BO  # type: ignore[union-attr]
    assert group.find_member(cast, "Cy Cole").character_id == CY  # type: ignore[union-attr]
    assert group.find_member(cast, "Dee") is None


# -- the stage -------------------------------------------------------------------------------------------


def conversation(**fields: Any) -> Conversation:
    base = {
        "id": "conv",
        "user_id": "u1",
        "character_id": ANN,
        "character_name": "Ann Archer",
        "persona_id": None,
        "title": "",
        "message_count": 0,
        "is_archived": False,
        "settings": {},
        "branched_from_id": None,
        "branched_from_message_id": None,
        "last_message_at": None,
        "created_at": "",
        "updated_at": "",
        "is_group": True,
        "members": [msgspec.to_builtins(m) for m in members(0.5, 0.5, 0.5)],
    }
    return msgspec.convert({**base, **fields}, Conversation)


def card(name: str, description: str) -> CardText:
    return CardText(name=name, description=description, personality="{{char}} is kind", scenario="A tavern.")


CAST = [
    CastCard(ANN, card("Ann Archer", "{{char}} shoots arrows.")),
    CastCard(BO, card("Bo Brook", "{{char}} sings.")),
    CastCard(CY, card("Cy Cole", "{{char}} bakes."), muted=True),
]
PEOPLE = [RoomPerson("u1", Persona(name="Rin", description="a traveller")), RoomPerson("u2", Persona(name="Sol"))]


def render(stage: Any, history: list[Message]) -> list[ChatMessage]:
    prompt = build_prompt(
        stage.card,
        stage.history(history),
        user_name=stage.macros.user,
        budget=10_000,
        count_tokens=lambda text: len(text.split()),
        persona=stage.persona,
        macros=stage.macros,
        system_macros=stage.system_macros,
    )
    return stage.finish(prompt, lambda text: len(text.split())).messages


HISTORY = [
    message("assistant", "Welcome!", ANN),
    message("user", "Hi both"),
    message("assistant", "Hello.", BO),
    message("user", "((ooc aside))", ooc=True),
]


def test_swap_mode_gives_each_speaker_its_card_and_its_own_session() -> None:
    chat = conversation(card_mode="swap")
    ann = stage_for(chat, CAST[0], CAST, PEOPLE, PEOPLE[1].persona)
    bo = stage_for(chat, CAST[1], CAST, PEOPLE, PEOPLE[1].persona)
    as_ann, as_bo = render(ann, HISTORY), render(bo, HISTORY)
    assert "Ann Archer shoots arrows." in as_ann[0].content and "sings" not in as_ann[0].content
    assert "Bo Brook sings." in as_bo[0].content
    assert as_ann[1:-1] == as_bo[1:-1]  # the history reads the same whoever speaks: each session's cache holds
    assert [m.content for m in as_ann[1:-1]] == ["Ann Archer: Welcome!", "Sol: Hi both", "Bo Brook: Hello."]
    assert as_ann[-1] == ChatMessage("assistant", "Ann Archer:") and as_bo[-1].content == "Bo Brook:"
    assert ann.session == "conv:ann" != bo.session == session_for(chat, BO)
    assert "About the people here:\nRin: a traveller" in as_ann[0].content  # both people, one system message
    assert "\nBo Brook:" in ann.stop and "\nBo:" in ann.stop and "\nSol:" in ann.stop and "\nAnn:" not in ann.stop


def test_join_mode_shares_one_system_message_and_session_between_speakers() -> None:
    chat = conversation(card_mode="join", include_muted=False)
    ann = stage_for(chat, CAST[0], CAST, PEOPLE, PEOPLE[0].persona)
    bo = stage_for(chat, CAST[1], CAST, PEOPLE, PEOPLE[0].persona)
    as_ann, as_bo = render(ann, HISTORY), render(bo, HISTORY)
    assert as_ann[:-1] == as_bo[:-1]  # everything but the speaker's line at the very end
    system = as_ann[0].content
    assert "Ann Archer: Ann Archer shoots arrows." in system and "Bo Brook's personality: Bo Brook is kind" in system
    assert "bakes" not in system  # muted Cy's card left out
    assert "Rin and Sol" in system and "Ann Archer, Bo Brook and Cy Cole" in system  # {{user}} and {{group}}
    assert ann.session == bo.session == "conv"
    with_muted = stage_for(conversation(card_mode="join"), CAST[0], CAST, PEOPLE, PEOPLE[0].persona)
    assert "Cy Cole bakes." in render(with_muted, HISTORY)[0].content


def test_a_one_to_one_chat_is_prompted_as_before() -> None:
    solo = conversation(is_group=False, members=[msgspec.to_builtins(members(0.5)[0])])
    stage = stage_for(solo, CAST[0], CAST[:1], [], Persona(name="Rin"))
    assert stage.session == "conv" and stage.prefill == "" and stage.persona == Persona(name="Rin")
    assert stage.history(HISTORY) == [
        ChatMessage("assistant", "Welcome!"),
        ChatMessage("user", "Hi both"),
        ChatMessage("assistant", "Hello."),
    ]
    assert stage.stop == ("\nRin:", "\nUser:")


def test_group_macros() -> None:
    ctx = MacroContext(
        char="Ann", user="Rin", group="Ann, Bo and Cy", group_not_muted="Ann and Bo", not_char="Bo and Rin"
    )
    assert expand_with("{{group}}|{{groupNotMuted}}|{{notChar}}", ctx) == "Ann, Bo and Cy|Ann and Bo|Bo and Rin"
    assert expand_with("{{group}}|{{notChar}}", MacroContext(char="Ann", user="Rin")) == "Ann|Rin"  # outside a group
    assert names_list(["A"]) == "A" and names_list(["A", "B"]) == "A and B"


def test_stop_strings_leave_the_speakers_own_names_alone() -> None:
    stops = stop_strings("Ann Archer", ["Ann Archer", "Ann Bell", "Bo Brook", "Rin"])
    assert "\nAnn Bell:" in stops and "\nAnn:" not in stops  # "Ann" is the speaker's own first name
    assert {"\nBo Brook:", "\nBo:", "\nRin:", "\nUser:"} <= set(stops)
