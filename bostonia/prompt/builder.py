"""Assemble the prompt for the next reply from the character card and the chat so far.

Order (stable first, so llama.cpp can reuse its KV cache across turns): system prompt and card,
then the history, newest turns kept when the context is short, then post-history instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from bostonia.characters.schemas import Character
from bostonia.llm.base import ChatMessage
from bostonia.prompt.macros import expand

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}} in an ongoing roleplay chat with {{user}}. Write {{char}}'s next reply only: stay "
    "in character, describe actions in *asterisks*, be vivid and concise, and never write {{user}}'s lines."
)
# Tokens the chat template adds around each message (role markers, separators): an estimate that
# errs on the safe side so the prompt never overflows the context.
PER_MESSAGE_OVERHEAD = 8


class PromptSection(msgspec.Struct, kw_only=True):
    name: str
    role: str
    content: str
    tokens: int


class BuiltPrompt(msgspec.Struct, kw_only=True):
    messages: list[ChatMessage]
    sections: list[PromptSection]
    dropped_messages: int

    @property
    def tokens(self) -> int:
        return sum(section.tokens for section in self.sections)


def card_system_text(character: Character, *, user_name: str) -> str:
    system = character.system_prompt.strip() or DEFAULT_SYSTEM_PROMPT
    system = system.replace("{{original}}", DEFAULT_SYSTEM_PROMPT)
    parts = [system]
    if character.description.strip():
        parts.append(character.description.strip())
    if character.personality.strip():
        parts.append(f"{{{{char}}}}'s personality: {character.personality.strip()}")
    if character.scenario.strip():
        parts.append(f"Scenario: {character.scenario.strip()}")
    examples = _example_dialogue(character.example_dialogue)
    if examples:
        parts.append("Example of how {{char}} talks (style only, not part of this chat):\n" + examples)
    return expand("\n\n".join(parts), char=character.name, user=user_name)


def _example_dialogue(text: str) -> str:
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("<START>")]
    return "\n\n".join(block for block in blocks if block)


def build_prompt(
    character: Character,
    history: Sequence[ChatMessage],
    *,
    user_name: str,
    budget: int,
    count_tokens: Callable[[str], int],
) -> BuiltPrompt:
    """`history` is the conversation so far, oldest first, ending with the user's new message."""

    def cost(text: str) -> int:
        return count_tokens(text) + PER_MESSAGE_OVERHEAD

    system = card_system_text(character, user_name=user_name)
    sections = [PromptSection(name="system", role="system", content=system, tokens=cost(system))]
    post = expand(character.post_history_instructions.strip(), char=character.name, user=user_name)
    post_tokens = cost(post) if post else 0
    remaining = budget - sections[0].tokens - post_tokens

    kept: list[tuple[ChatMessage, int]] = []
    for message in reversed(history):
        tokens = cost(message.content)
        if tokens > remaining and kept:  # always keep the newest message, even if it must be cut later
            break
        kept.append((message, tokens))
        remaining -= tokens
    kept.reverse()
    dropped = len(history) - len(kept)

    messages = [ChatMessage("system", system)]
    for message, tokens in kept:
        messages.append(message)
        sections.append(PromptSection(name="history", role=message.role, content=message.content, tokens=tokens))
    if post:
        # Folded into the last user turn: many chat templates reject a system message after the first.
        last = messages[-1]
        if last.role == "user":
            messages[-1] = ChatMessage("user", f"{last.content}\n\n{post}")
        else:
            messages.append(ChatMessage("user", post))
        sections.append(PromptSection(name="post_history_instructions", role="user", content=post, tokens=post_tokens))
    return BuiltPrompt(messages=messages, sections=sections, dropped_messages=dropped)
