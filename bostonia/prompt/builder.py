"""Assemble the prompt for the next reply from the character card, the persona and the chat so far.

The order is chosen for llama.cpp's KV cache, which reuses the longest unchanged token prefix:

1. the system message — system prompt, card, persona, example dialogue — identical every turn;
2. the history, oldest first; when it no longer fits, old turns are dropped in chunks of about a
   quarter of the budget, at boundaries fixed by the conversation itself, so the start of the kept
   history moves rarely instead of on every turn;
3. dynamic injections (lore, memories, summaries) at a fixed depth from the end, so a change in them
   only invalidates the last few messages;
4. the new user message, with the card's post-history instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from bostonia.llm.base import ChatMessage, Role
from bostonia.prompt.macros import MacroContext, expand_with

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}} in an ongoing roleplay chat with {{user}}. Write {{char}}'s next reply only: stay "
    "in character, describe actions in *asterisks*, be vivid and concise, and never write {{user}}'s lines."
)
# Tokens the chat template adds around each message (role markers, separators): an estimate that
# errs on the safe side so the prompt never overflows the context.
PER_MESSAGE_OVERHEAD = 8
# How much history is dropped at once when the context is full, as a fraction of the history budget.
DROP_CHUNK_FRACTION = 0.25
# A summary shown above the history stays when the history's start moves on, until the messages between
# what it covers and the new start cost more than this many chunks: the engine keeps the KV cache across a
# move (context shift) only if the text above the history is unchanged, so a new summary costs a full
# re-read (seconds per thousand tokens on a CPU). Memory recall covers the messages in between.
STANDING_GAP_CHUNKS = 2


class Card(Protocol):
    """The card text a prompt is made of (a character, or in a group the speaking member). The prompt
    library reads it without knowing where characters are stored."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def personality(self) -> str: ...
    @property
    def scenario(self) -> str: ...
    @property
    def system_prompt(self) -> str: ...
    @property
    def example_dialogue(self) -> str: ...
    @property
    def post_history_instructions(self) -> str: ...


class PromptInjection(msgspec.Struct, frozen=True, kw_only=True):
    """Dynamic text placed `depth` messages from the end of the history (0 = after the last one).
    `details`: what the prompt view shows about where it came from (a lore entry and why it fired)."""

    name: str
    content: str
    depth: int = 4
    role: Role = "system"
    details: dict[str, Any] | None = None
    # Tokens kept free for the injections of this name together (the sum of their reserves), whatever
    # their size this turn: material that grows and shrinks from turn to turn (recalled memories, lore)
    # must not move where the kept history starts, or the whole KV cache is lost. An empty injection
    # holds its reserve too (nothing fired this turn: the room stays). 0: counted at its actual size.
    reserve: int = 0
    # > 0: this text stands for the first `covers` messages of the history (a summary of them) and is used
    # only once the kept history starts after them; of several of one name, the one covering most — but
    # the one the conversation's previous prompt used while the start stays, and after it moves while
    # that one still covers all but `STANDING_GAP_CHUNKS` chunks of what is left out
    # (`build_prompt(standing=...)`). Text above the history that changed whenever a new summary was written
    # would cost a full re-read of the KV cache each time; chosen this way it changes once in a few moves
    # of the kept history's start (the others are context shifts, which keep the cache). Its room is that
    # of the largest candidate.
    covers: int = 0
    # The next prompt may leave this text out while keeping everything after it (a block of recalled memories
    # that moves on): the model's cache may then drop it and keep what it read after it (`GenerationRequest.
    # droppable`). Only a message made of droppable injections alone is.
    droppable: bool = False


class Persona(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""


class PromptSection(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    role: str
    content: str
    tokens: int
    details: list[dict[str, Any]] = msgspec.field(default_factory=list)  # of the injections merged here


class BuiltPrompt(msgspec.Struct, kw_only=True):
    messages: list[ChatMessage]
    sections: list[PromptSection]
    dropped_messages: int
    budget: int
    # Per injection name, the `covers` of the standing injection used (0: none): with `dropped_messages`,
    # what the conversation's next prompt keeps while its history starts at the same message.
    standing: dict[str, int] = msgspec.field(default_factory=dict)
    # The last message is the start of the reply, for the model to continue (a group chat starts each
    # reply with its speaker's name).
    ends_in_reply: bool = False
    droppable: tuple[str, ...] = ()  # texts of the messages made of droppable injections (see PromptInjection)

    @property
    def tokens(self) -> int:
        return sum(section.tokens for section in self.sections)


def example_dialogue(text: str) -> str:
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("<START>")]
    return "\n\n".join(block for block in blocks if block)


def system_parts(character: Card, persona: Persona | None, macros: MacroContext) -> list[tuple[str, str]]:
    """(section name, text) of the system message, macros expanded, empty parts left out."""
    system = character.system_prompt.strip() or DEFAULT_SYSTEM_PROMPT
    system = system.replace("{{original}}", DEFAULT_SYSTEM_PROMPT)
    card = []
    if character.description.strip():
        card.append(character.description.strip())
    if character.personality.strip():
        card.append(f"{{{{char}}}}'s personality: {character.personality.strip()}")
    if character.scenario.strip():
        card.append(f"Scenario: {character.scenario.strip()}")
    parts = [("system", system), ("card", "\n\n".join(card))]
    if persona is not None and persona.description.strip():
        parts.append(("persona", f"About {{{{user}}}}: {persona.description.strip()}"))
    examples = example_dialogue(character.example_dialogue)
    if examples:
        parts.append(("examples", "Example of how {{char}} talks (style only, not part of this chat):\n" + examples))
    return [(name, expand_with(text, macros)) for name, text in parts if text.strip()]


def history_start(costs: Sequence[int], available: int, chunk: int) -> int:
    """Index of the first history message to keep.

    Dropping the minimum would move the start on every turn once the context is full (and with it the
    whole KV cache). Instead the start snaps forward to the next chunk boundary — a message before which
    the conversation's running token total crosses a multiple of `chunk` — so it moves once per chunk.
    """
    if sum(costs) <= available:
        return 0
    minimum, remaining = 0, sum(costs)
    while minimum < len(costs) - 1 and remaining > available:  # the newest message is always kept
        remaining -= costs[minimum]
        minimum += 1
    before = sum(costs[:minimum])  # tokens of the conversation before message `index`
    for index in range(minimum, len(costs)):
        if index == 0 or before // chunk != (before - costs[index - 1]) // chunk:
            return index
        before += costs[index]
    return minimum


def build_prompt(
    character: Card,
    history: Sequence[ChatMessage],
    *,
    user_name: str,
    budget: int,
    count_tokens: Callable[[str], int],
    persona: Persona | None = None,
    macros: MacroContext | None = None,
    injections: Sequence[PromptInjection] = (),
    continuing: bool = False,
    system_macros: MacroContext | None = None,
    standing: tuple[int, Mapping[str, int]] | None = None,
) -> BuiltPrompt:
    """`history` is the conversation so far, oldest first (ending with the user's new message, if any).

    `continuing`: the model will extend the last (assistant) message, so nothing may follow it.
    `system_macros`: expand the system message with these instead (a group chat that merges every card
    keeps that message the same whoever speaks, so it names no speaker).
    `standing`: the previous prompt's `dropped_messages` and `standing`, to keep its choices while the
    history starts at the same message, or not too far after it (`STANDING_GAP_CHUNKS`).
    """
    macros = macros or MacroContext(char=character.name, user=user_name)

    def cost(text: str) -> int:
        return count_tokens(text) + PER_MESSAGE_OVERHEAD

    parts = system_parts(character, persona, system_macros or macros)
    system_text = "\n\n".join(text for _, text in parts)
    sections = [
        PromptSection(name=name, role="system", content=text, tokens=count_tokens(text)) for name, text in parts
    ]
    sections[0].tokens += PER_MESSAGE_OVERHEAD
    post = "" if continuing else expand_with(character.post_history_instructions.strip(), macros)
    injected = [
        msgspec.structs.replace(i, content=expand_with(i.content, macros), depth=max(i.depth, int(continuing)))
        for i in injections
        if i.content.strip()
    ]
    taken: dict[str, int] = {}
    held: dict[str, int] = {}
    for i in injected:
        if i.covers:
            taken[i.name] = max(taken.get(i.name, 0), cost(i.content))  # one of them will be used
        else:
            taken[i.name] = taken.get(i.name, 0) + cost(i.content)
    for i in injections:
        held[i.name] = held.get(i.name, 0) + i.reserve
    fixed = cost(system_text) + (cost(post) if post else 0)
    fixed += sum(max(taken.get(name, 0), held.get(name, 0)) for name in taken.keys() | held.keys())

    costs = [cost(message.content) for message in history]
    available = budget - fixed
    # Chunks are a share of the whole budget, not of what is left after the injections: what is left
    # changes from prompt to prompt (lore and memories come and go, a warm-up has no new message yet), and
    # boundaries that moved with it would move the history's start, and with it the whole KV cache.
    chunk = max(1, int(max(budget, 1) * DROP_CHUNK_FRACTION))
    start = history_start(costs, available, chunk)
    kept = list(history[start:])
    kept_costs = costs[start:]
    kept_choice: dict[str, int] = {}
    if standing and standing[0] <= start:
        for name, covers in standing[1].items():
            if standing[0] == start or sum(costs[covers:start]) <= STANDING_GAP_CHUNKS * chunk:
                kept_choice[name] = covers
    chosen: dict[str, PromptInjection] = {}  # per name, the one covering most of what was left out
    for i in injected:
        if i.covers and i.covers <= start and i.covers > getattr(chosen.get(i.name), "covers", 0):
            chosen[i.name] = i
    for name, covers in kept_choice.items():  # what the last prompt showed stays, while it is offered
        shown = next((i for i in injected if i.name == name and i.covers == covers), None) if covers else None
        if shown is not None:
            chosen[name] = shown
        elif not covers:
            chosen.pop(name, None)  # it showed none: none still
    injected = [i for i in injected if not i.covers or chosen.get(i.name) is i]
    # A context too small for the card, the newest message and the injections together (the history is down to
    # that message): the injections give way, the biggest first, rather than overflow the model's context.
    used = cost(system_text) + (cost(post) if post else 0) + sum(kept_costs)
    while injected and used + sum(cost(i.content) for i in injected) > budget:
        injected.remove(max(injected, key=lambda i: cost(i.content)))
    choice = {i.name: 0 for i in injections} | {name: i.covers for name, i in chosen.items()}

    messages = [ChatMessage("system", system_text)]
    body: list[tuple[ChatMessage, PromptSection]] = [
        (message, PromptSection(name="history", role=message.role, content=message.content, tokens=tokens))
        for message, tokens in zip(kept, kept_costs, strict=True)
    ]
    # One message per depth and role, deepest first; at one depth, in the order the injections came (the
    # later slot is inserted first, so the earlier one lands before it).
    slots = list(dict.fromkeys((i.depth, i.role) for i in injected))
    droppable: list[str] = []
    for _, (depth, role) in sorted(enumerate(slots), key=lambda item: (-item[1][0], -item[0])):
        group = [i for i in injected if (i.depth, i.role) == (depth, role)]
        text = "\n\n".join(i.content for i in group)
        position = max(0, len(body) - depth)
        section = PromptSection(
            name="+".join(dict.fromkeys(i.name for i in group)),
            role=role,
            content=text,
            tokens=cost(text),
            details=[i.details for i in group if i.details],
        )
        body.insert(position, (ChatMessage(role, text), section))
        if text and all(i.droppable for i in group):
            droppable.append(text)
    messages += [message for message, _ in body]
    sections += [section for _, section in body]
    if post:
        # Folded into the last user turn: many chat templates reject a system message after the first.
        last = messages[-1]
        if last.role == "user":
            messages[-1] = ChatMessage("user", f"{last.content}\n\n{post}")
        else:
            messages.append(ChatMessage("user", post))
        sections.append(PromptSection(name="post_history_instructions", role="user", content=post, tokens=cost(post)))
    return BuiltPrompt(
        messages=messages,
        sections=sections,
        dropped_messages=start,
        budget=budget,
        standing=choice,
        droppable=tuple(droppable),
    )
