"""Memories in the prompt: a `PromptInjector` that recalls what earlier turns said about the new message.

The query is the user's new message, with the turn before it as context. Messages still in the prompt
are left out (the model reads them anyway); what remains goes in as one system block at the same fixed
depth as lore, two messages from the end, so a block that changes every turn invalidates only those two
messages of the KV cache. The block stays within `[memory] prompt_share` of the context (and
`prompt_items` items), in the builder's rough token measure (4 characters a token).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bostonia.config import LLMConfig, MemoryConfig
from bostonia.memory.retrieval import parse_stamp
from bostonia.memory.schemas import SearchItem
from bostonia.memory.service import MemoryService
from bostonia.memory.summaries import DEPTH as SUMMARY_DEPTH
from bostonia.memory.summaries import SUMMARY_TOKENS
from bostonia.prompt.builder import PromptInjection

DEPTH = 2  # with lore: see bostonia/lore/activation.py for why two messages from the end
CHARS_PER_TOKEN = 4
ITEM_CHARS = 300  # one remembered turn at most this long in the prompt
# Share of the context the recent history is assumed to fill: messages that recent are in the prompt already.
HISTORY_SHARE = 0.6
HEADER = "[Memories of earlier in this chat, for {{char}}'s reference:"


def recent_ids(history: Sequence[Any], context_tokens: int) -> list[str]:
    """Ids of the newest messages that surely fit in the prompt (the builder keeps the newest first)."""
    budget = context_tokens * HISTORY_SHARE * CHARS_PER_TOKEN
    ids: list[str] = []
    used = 0
    for message in reversed(history):
        used += len(message.content) + 40
        if used > budget:
            break
        if message_id := getattr(message, "id", None):
            ids.append(message_id)
    return ids


def render(items: Sequence[SearchItem], names: tuple[str, str], budget_chars: int) -> str:
    lines: list[str] = []
    used = len(HEADER)
    for item in items:
        text = " ".join(item.content.split())
        if len(text) > ITEM_CHARS:
            text = text[: ITEM_CHARS - 1].rstrip() + "…"
        moment = parse_stamp(item.created_at)
        when = f"{moment:%b %d, %Y}: " if moment else ""
        who = ""
        if item.memory_type == "message":
            who = f"{names[0] if item.role == 'user' else names[1]}: "
        line = f"- {when}{who}{text}"
        if used + len(line) + 1 > budget_chars:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join([HEADER, *lines]) + "]" if lines else ""


class MemoryInjector:
    def __init__(self, memory: MemoryService, config: MemoryConfig, llm: LLMConfig) -> None:
        self.memory = memory
        self.config = config
        self.llm = llm

    async def injections(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        if not history or not self.config.prompt_items or not self.config.prompt_share:
            return []
        injections = await self._story_so_far(conversation, history)
        latest = history[-1]
        context = "\n".join(message.content for message in history[-3:-1])
        on_path = {m.id for m in history if getattr(m, "id", None)}
        exclude = recent_ids(history, self.llm.context_size)
        if len(exclude) >= len(on_path):
            return injections  # the whole conversation is in the prompt: nothing to recall
        wanted = self.config.prompt_items
        found = await self.memory.recall(
            conversation, latest.content, wanted + 4, context=context, exclude_messages=exclude
        )
        # Swipes that were not chosen and branches not shown are not what happened: leave them out.
        items = [i for i in found if not i.source_message_ids or set(i.source_message_ids) <= on_path][:wanted]
        names = await self.memory.store.speaker_names(conversation.id) or ("User", "")
        budget = self.budget_tokens()
        text = render(items, names, budget * CHARS_PER_TOKEN)
        block = PromptInjection(name="memory", content=text, depth=DEPTH, reserve=budget)
        return injections + ([block] if text else [])

    def budget_tokens(self) -> int:
        """The block's size limit, kept free in every prompt of a long chat (see `PromptInjection.reserve`):
        `prompt_share` of the context, or what `prompt_items` full items take if that is less."""
        share = int(self.llm.context_size * self.config.prompt_share)
        items = self.config.prompt_items * (ITEM_CHARS // CHARS_PER_TOKEN + 12) + len(HEADER) // CHARS_PER_TOKEN
        return min(share, items)

    async def _story_so_far(self, conversation: Any, history: Sequence[Any]) -> list[PromptInjection]:
        path = [m for m in history if getattr(m, "id", None)]
        summary = await self.memory.summarizer.current(conversation.id, path)
        if summary is None:
            return []
        text = f"[The story so far: {summary.content}]"
        return [PromptInjection(name="summary", content=text, depth=SUMMARY_DEPTH, reserve=SUMMARY_TOKENS + 40)]
