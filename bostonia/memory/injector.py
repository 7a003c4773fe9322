"""Memories in the prompt: a `PromptInjector` that recalls what earlier turns said, in two blocks shaped
for llama.cpp's KV cache.

Lore sits just before the message being answered (by default; the warm-up puts it there too, see
`bostonia.lore.injector.lore_depth`), so a reply whose lore changed re-reads from there on; a memory block
there would be re-read too, every turn (hundreds of tokens: measured 5x the TTFT of a short chat). So:

- the *context* block — memories of an exchange before the new message — goes before that exchange. It
  depends only on messages that exist before the user writes, so the warm-up that runs after each reply
  renders the very same block at the very same place and the model has read it before the user sends
  anything. It is anchored there while the chat grows by `CONTEXT_STEP` messages, then moves to the
  exchange before the newest one: a block that moved every turn made every warm-up re-read it and the last
  exchange (hundreds of tokens, longer than a user takes to type at 3,000 tokens of context). It is marked
  droppable (`PromptInjection.droppable`): when it moves, the local engine takes the old block out of its cache
  and keeps the messages read after it, so the warm-up reads the new block and the last exchange, not the six
  messages before them too (benchmarks.chat_engine (b), turn 29 of the long chat: 856 -> 543 tokens);
- the *query* block — at most `[memory] reply_items` short items the new message itself recalls, not
  already in the context block — goes after the new message: the only memory the reply must read
  (measured by `python -m benchmarks memory`: prompt tokens a reply reads at turn 30 vs turn 2). A message
  with nothing to recall by ("Go on.", `PHATIC`) gets none; its room stays.

Messages the prompt holds anyway are left out (before ranking, so that a message added meanwhile cannot
reorder the rest): those from the first one the conversation's last prompt kept on (`prompt_built`, which
the chat service calls after each build; an estimate before the first). When the new prompt starts later
than that (its new message pushed the start on), `prompt_built` asks for the prompt to be built again: the
messages just dropped would otherwise be in neither the prompt nor the memories for that turn. A guess of
that line that ran past it hid the messages just before it from both the prompt and the recall (at 1,024
tokens of context and a 530-token card, facts told ten turns back). The context block the warm-up recalled
is remembered and the reply reuses it as long as nothing was deleted from the conversation's index since:
the reply then neither pays for that search again while the user waits (two embeddings and a search) nor
risks a block that differs from the one the model read (the user's new message, indexed meanwhile, is not in
the warm-up's). Both blocks stay within `[memory] prompt_share` of the context and reserve their room, so
the start of the kept history never moves with them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from bostonia.config import MemoryConfig
from bostonia.memory.retrieval import parse_stamp, terms_of
from bostonia.memory.schemas import SearchItem
from bostonia.memory.service import MemoryService
from bostonia.memory.summaries import DEPTH as SUMMARY_DEPTH
from bostonia.memory.summaries import SUMMARY_FROM, SUMMARY_TOKENS
from bostonia.prompt.builder import PromptInjection

# The context block moves on once the chat has grown by this many messages since it was placed (before the
# exchange it was recalled for): until then it stays where it is, unchanged, and the model does not re-read it
# and everything after it every turn. Measured with `python -m benchmarks.chat_engine` ((b): a 57-message chat,
# 3 s between turns): the warm-up after each reply re-read ~600 tokens at 2,900 tokens of context when the
# block moved every turn; now that happens one turn in three, and the other two read only the reply.
CONTEXT_STEP = 6
QUERY_DEPTH = 0  # after the new message
# Every token of the query block is read while the user waits (at turn 30 of a long chat, each costs more
# than at turn 2: attention over the longer context), so its item is short: the part that answers.
QUERY_ITEM_CHARS = 120
CHARS_PER_TOKEN = 4
# One remembered turn at most this long in the context block (cut to the sentences the exchange is about).
# Shorter items would make the warm-up's work smaller, but also the block's reserve, which moves where the
# kept history starts in a long chat: 200 made the chat-engine benchmark's chat flip between 17 and 0
# messages left out (lore, which reserves nothing, tipping it), each flip a full re-read.
ITEM_CHARS = 300
# Share of the context the recent history is assumed to fill, until a prompt of the conversation was built
# (after a restart): messages that recent are taken to be in the prompt already.
HISTORY_SHARE = 0.6
KEPT_REMEMBERED = 4096  # conversations whose last prompt's first kept message is remembered
# A new message made only of these (and stop words) - "Go on.", "And then?", "*nods*", "Yes please" - has
# nothing to recall by: any search returns whatever is nearest, which is noise, and its query block is read
# while the user waits (~45 tokens: most of what a reply reads after its warm-up in a long chat).
PHATIC = frozenset(
    """go ok okay yes yeah yep yup no nope please continue lol haha hehe hmm hm mhm sure thanks thank nods nod
    smiles smile grins grin laughs laugh chuckles sighs cool nice wow really right alright fine good great oh ah
    uh um well""".split()
)
CONTEXT_MEMO = 256  # context blocks remembered (one per conversation is what the warm-up/reply pair needs)
HEADER = "[Memories of earlier in this chat, for {{char}}'s reference:"
QUERY_HEADER = "[{{char}} also remembers:"


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


def remember(memo: OrderedDict[str, Any], conversation_id: str, value: Any) -> None:
    """Per-conversation state, the `KEPT_REMEMBERED` most recently used conversations' only."""
    memo[conversation_id] = value
    memo.move_to_end(conversation_id)
    if len(memo) > KEPT_REMEMBERED:
        memo.popitem(last=False)


def anchor_index(messages: int) -> int:
    """Where the context block goes in a chat of `messages` messages before the new one (the index of the
    first message after it): two from the end when it moves, and there until `CONTEXT_STEP` more came."""
    if messages < 2:
        return 0
    return messages - 2 - (messages - 2) % CONTEXT_STEP


SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def excerpt(text: str, chars: int, about: str = "") -> str:
    """`text` in at most `chars` characters: whole if it fits, else from the sentence sharing most words
    with `about` (the query: a long turn's answer is not always its opening), cut at a word."""
    text = " ".join(text.split())
    if len(text) <= chars:
        return text
    if about:
        wanted = set(terms_of(about))
        sentences = SENTENCE_END.split(text)
        scores = [len(wanted & set(terms_of(sentence))) for sentence in sentences]
        best = max(range(len(sentences)), key=lambda n: (scores[n], -n))
        if scores[best]:
            text = " ".join(sentences[best:])
            if len(text) <= chars:
                return text
    cut = text[: chars - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"


def fitting(
    items: Sequence[SearchItem],
    names: tuple[str, str],
    budget_chars: int,
    *,
    header: str = HEADER,
    item_chars: int = ITEM_CHARS,
    about: str = "",
) -> list[tuple[SearchItem, str]]:
    """The items (best first) whose lines fit in `budget_chars`, each with its line."""
    lines: list[tuple[SearchItem, str]] = []
    used = len(header)
    for item in items:
        text = excerpt(item.content, item_chars, about)
        moment = parse_stamp(item.created_at)
        when = f"{moment:%b %d, %Y}: " if moment else ""
        who = ""
        if item.memory_type == "message":
            who = f"{names[0] if item.role == 'user' else names[1]}: "
        line = f"- {when}{who}{text}"
        if used + len(line) + 1 > budget_chars:
            break
        lines.append((item, line))
        used += len(line) + 1
    return lines


def render(
    items: Sequence[SearchItem],
    names: tuple[str, str],
    budget_chars: int,
    *,
    header: str = HEADER,
    item_chars: int = ITEM_CHARS,
    about: str = "",
) -> str:
    return block(header, fitting(items, names, budget_chars, header=header, item_chars=item_chars, about=about))


def block(header: str, lines: Sequence[tuple[SearchItem, str]]) -> str:
    return "\n".join([header, *(line for _, line in lines)]) + "]" if lines else ""


class MemoryInjector:
    def __init__(self, memory: MemoryService, config: MemoryConfig, context_tokens: Callable[[], int]) -> None:
        self.memory = memory
        self.config = config
        self.context_tokens = context_tokens  # the default model's context: the blocks are a share of it
        self._context_memo: OrderedDict[tuple[Any, ...], list[SearchItem]] = OrderedDict()
        # Per conversation, the id of the first message its latest prompt kept ("": none of the stored ones),
        # with the number of stored messages that prompt was built from.
        self._kept_from: OrderedDict[str, tuple[str, int]] = OrderedDict()
        # Per conversation, the first message the latest `injections` took to be in the prompt (and left out).
        self._left_out_from: OrderedDict[str, str] = OrderedDict()

    def prompt_built(self, conversation: Any, history: Sequence[Any], kept_from: int) -> bool:
        """Remember where the prompt's history starts; True when the memories it was built with left out
        messages before that start (the new message pushed the start on by a chunk since the last prompt):
        those are in neither, and the prompt should be built again with memories that include them."""
        ids = self._ids(history)
        stored = len(ids)
        known = self._kept_from.get(conversation.id)
        first = next((m.id for m in history[kept_from:] if getattr(m, "id", None)), "")
        assumed = self._left_out_from.pop(conversation.id, "")
        hidden = bool(first and assumed in ids and first in ids and ids.index(assumed) < ids.index(first))
        # Builds finish out of order (a warm-up that read the chat before the last message, done after the
        # reply's build): one from fewer messages, whose start is earlier, would hide what the newer prompt
        # dropped. A start too late only lets recall repeat a message the prompt holds; after a deletion or
        # on a shorter branch the kept one is that, until the chat grows past it.
        if known is not None and stored < known[1] and not hidden:
            return False
        remember(self._kept_from, conversation.id, (first, stored))
        return hidden

    def _in_prompt(self, conversation: Any, before: Sequence[Any]) -> list[str]:
        """Ids of the messages of `before` the prompt holds: from where the conversation's last prompt started
        (the warm-up's, for a reply; when the new message pushes the start on by a chunk, `prompt_built`
        says so and the prompt is built again from the new start), or as far as `recent_ids` estimates
        before any."""
        ids = self._ids(before)
        first = self._kept_from.get(conversation.id, (None, 0))[0]
        if first == "":
            return []
        if first is not None and first in ids:
            return ids[ids.index(first) :]
        return recent_ids(before, self.context_tokens())

    async def injections(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        if not history or not self.config.prompt_items or not self.config.prompt_share:
            return []
        injections = await self._story_so_far(conversation, history)
        turn = history[-1].role == "user"  # else a warm-up (or a continue): no new message yet
        before = history[:-1] if turn else history  # what existed before the user wrote
        on_path = {m.id for m in history if getattr(m, "id", None)}
        # What the prompt holds, as the warm-up saw it (the new message and what it pushes out do not count).
        recent = self._in_prompt(conversation, before)
        remember(self._left_out_from, conversation.id, recent[0] if recent else "")
        if len(recent) >= len(self._ids(before)):
            return injections  # the whole conversation is in the prompt: nothing to recall
        names = await self.memory.store.speaker_names(conversation.id) or ("User", "")
        at = anchor_index(len(before))
        exchange = before[at : at + 2]
        stamp = parse_stamp(getattr(exchange[-1], "created_at", "") or "")
        later = self._ids(before[at + 2 :])  # in the prompt anyway
        context_items = await self._context_items(conversation, exchange, recent, later, on_path, stamp)
        budget, query_budget = self.budget_tokens(), self.query_budget_tokens()
        depth = len(history) - at
        about = "\n".join(m.content for m in exchange)
        rendered = fitting(context_items, names, budget * CHARS_PER_TOKEN, about=about)
        text = block(HEADER, rendered)
        injections.append(PromptInjection(name="memory", content=text, depth=depth, reserve=budget, droppable=True))
        # The query block's room is kept in the warm-up too (empty there): both prompts then keep the same
        # history, which they must for the cache to hold.
        text = ""
        if turn and self.config.reply_items and not set(terms_of(history[-1].content)) <= PHATIC:
            # What the context block holds: items its budget cut off may still come in here.
            shown = {item.content for item, _ in rendered}
            exclude = [*recent, *self._ids(history[-1:])]
            wanted = self.config.reply_items
            found = await self._recall(conversation, history[-1:], wanted + len(shown), exclude, on_path, None)
            fresh = [item for item in found if item.content not in shown][:wanted]
            text = render(
                fresh,
                names,
                query_budget * CHARS_PER_TOKEN,
                header=QUERY_HEADER,
                item_chars=QUERY_ITEM_CHARS,
                about=history[-1].content,
            )
        injections.append(PromptInjection(name="memory", content=text, depth=QUERY_DEPTH, reserve=query_budget))
        return injections

    async def _context_items(
        self,
        conversation: Any,
        exchange: Sequence[Any],
        recent: Sequence[str],
        later: Sequence[str],
        on_path: set[str],
        anchor: Any,
    ) -> list[SearchItem]:
        """What the block's exchange recalls: as first found (by the warm-up after it, usually), leaving out
        what the prompt held then; it stays the same block while the prompt's start moves on (the query block
        may recall what that start leaves behind)."""
        key = (
            conversation.id,
            self.memory.vectors.removals(conversation.id),
            tuple((getattr(m, "id", None), m.content) for m in exchange),
            self.config.prompt_items,
        )
        found = self._context_memo.get(key)
        if found is None:
            exclude = [*recent, *later]
            found = await self._recall(conversation, exchange, self.config.prompt_items, exclude, on_path, anchor)
            self._context_memo[key] = found
            while len(self._context_memo) > CONTEXT_MEMO:
                self._context_memo.popitem(last=False)
        else:
            self._context_memo.move_to_end(key)
        # The path may have changed since (another swipe chosen): what it no longer holds is left out.
        return [i for i in found if not i.source_message_ids or set(i.source_message_ids) <= on_path]

    def query_budget_tokens(self) -> int:
        items = self.config.reply_items
        return items * (QUERY_ITEM_CHARS // CHARS_PER_TOKEN + 12) + len(QUERY_HEADER) // CHARS_PER_TOKEN if items else 0

    @staticmethod
    def _ids(messages: Sequence[Any]) -> list[str]:
        return [m.id for m in messages if getattr(m, "id", None)]

    async def _recall(
        self,
        conversation: Any,
        messages: Sequence[Any],
        count: int,
        exclude: Sequence[str],
        on_path: set[str],
        now: Any,
    ) -> list[SearchItem]:
        """What `messages` recall (the last one is the query, the one before it context)."""
        if not messages:
            return []
        query = messages[-1].content
        context = "\n".join(m.content for m in messages[:-1])
        found = await self.memory.recall(
            conversation, query, count + 4, context=context, exclude_messages=exclude, now=now
        )
        # Swipes that were not chosen and branches not shown are not what happened: leave them out.
        return [i for i in found if not i.source_message_ids or set(i.source_message_ids) <= on_path][:count]

    def budget_tokens(self) -> int:
        """The context block's size limit, kept free in every prompt of a long chat (see
        `PromptInjection.reserve`): what `prompt_items` full items take, within `prompt_share` of the context
        together with the query block."""
        share = int(self.context_tokens() * self.config.prompt_share) - self.query_budget_tokens()
        items = self.config.prompt_items * (ITEM_CHARS // CHARS_PER_TOKEN + 12) + len(HEADER) // CHARS_PER_TOKEN
        return max(0, min(share, items))

    async def _story_so_far(self, conversation: Any, history: Sequence[Any]) -> list[PromptInjection]:
        """The summaries the prompt may show, each standing for the messages it covers: the builder uses the
        newest of those covering only messages the prompt leaves out (`PromptInjection.covers`)."""
        path = [m for m in history if getattr(m, "id", None)]
        if len(path) <= SUMMARY_FROM:
            return []
        # The room is kept from the moment a summary may be written, so the first one moves nothing.
        out = [PromptInjection(name="summary", content="", depth=SUMMARY_DEPTH, reserve=SUMMARY_TOKENS + 40)]
        index = {m.id: n for n, m in enumerate(history) if getattr(m, "id", None)}
        for summary in await self.memory.summarizer.usable(conversation.id, path):
            at = index.get(summary.covers_until_message_id)
            if at is not None:
                text = f"[The story so far: {summary.content}]"
                out.append(PromptInjection(name="summary", content=text, depth=SUMMARY_DEPTH, covers=at + 1))
        return out
