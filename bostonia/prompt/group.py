"""The card a group chat's prompt is built from, in its two modes, and the names group macros write out.

*swap* (the default): only the speaker's card, as in a one-to-one chat. Each speaker's prompt starts with
its own card, so each speaker gets its own model session (`<conversation>:<character>`): the KV cache of
a session holds that card and the shared history, and the next time the same character speaks only
what was said since is read. The history is rendered the same whichever character speaks (every line
carries its speaker's name), so a session's cached prefix stays valid.

*join*: every member's card merged into one system message (muted members' optionally left out) that is
the same whoever speaks, so the whole group shares one session and one cached prefix; the speaker is
named only at the very end of the prompt. Muting, adding or removing a member changes that message once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bostonia.prompt.builder import Card, example_dialogue
from bostonia.prompt.macros import MacroContext, expand_with

SWAP_SYSTEM_PROMPT = (
    "You are {{char}} in an ongoing roleplay group chat; also here: {{notChar}}. Write {{char}}'s next reply "
    "only: stay in character, describe actions in *asterisks*, be vivid and concise, and never write lines "
    "for anyone else."
)
JOIN_SYSTEM_PROMPT = (
    "This is an ongoing roleplay group chat between {{user}} and the characters {{group}}. Write only the next "
    "reply of the character named at its start: stay in character, describe actions in *asterisks*, be vivid "
    "and concise, and never write lines for anyone else."
)


@dataclass(frozen=True)
class CardText:
    """A card made here (the prompt library's `Card` protocol)."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    system_prompt: str = ""
    example_dialogue: str = ""
    post_history_instructions: str = ""


def names_list(names: Sequence[str]) -> str:
    """ "Ann", "Ann and Bo", "Ann, Bo and Cy"."""
    names = [name for name in names if name]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def swap_card(speaker: Card, *, scenario: str = "", people: str = "") -> CardText:
    """The speaker's own card, with the group's scenario (if it has one) and the group's default system
    prompt where the card has none (`{{original}}` in a card's prompt stands for it)."""
    own = speaker.system_prompt.strip()
    system = own.replace("{{original}}", SWAP_SYSTEM_PROMPT) if own else SWAP_SYSTEM_PROMPT
    return CardText(
        name=speaker.name,
        description=_with_people(speaker.description.strip(), people),
        personality=speaker.personality,
        scenario=scenario.strip() or speaker.scenario,
        system_prompt=system,
        example_dialogue=speaker.example_dialogue,
        post_history_instructions=speaker.post_history_instructions,
    )


def joined_card(
    cards: Sequence[Card],
    speaker: Card,
    *,
    macros_for: Callable[[Card], MacroContext],
    scenario: str = "",
    people: str = "",
) -> CardText:
    """Every card in one: each member's description and personality under its name, the scenarios (or
    the group's), every example dialogue. Each member's text has its macros expanded as that member
    (`{{char}}` in a card is the card's own character), so the result does not depend on the speaker —
    except the post-history instructions, the speaker's, which go at the end of the prompt."""
    blocks, scenarios, examples = [], [], []
    for card in cards:
        macros = macros_for(card)
        lines = [f"{card.name}: {expand_with(card.description.strip(), macros)}".rstrip(": ")]
        if card.personality.strip():
            lines.append(f"{card.name}'s personality: {expand_with(card.personality.strip(), macros)}")
        blocks.append("\n".join(lines))
        if card.scenario.strip():
            text = expand_with(card.scenario.strip(), macros)
            if text not in scenarios:
                scenarios.append(text)
        if card.example_dialogue.strip():
            examples.append(expand_with(example_dialogue(card.example_dialogue), macros))
    return CardText(
        name=speaker.name,
        description=_with_people("\n\n".join(blocks), people),
        scenario=scenario.strip() or "\n".join(scenarios),
        system_prompt=JOIN_SYSTEM_PROMPT,
        example_dialogue="<START>".join(examples),
        post_history_instructions=speaker.post_history_instructions,
    )


def _with_people(description: str, people: str) -> str:
    return f"{description}\n\n{people}".strip() if people else description
