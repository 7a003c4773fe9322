"""World Info in the chat prompt: the `PromptInjector` over every book that applies to a chat.

Books: the character's own (its card's `character_book`; in a group chat every member's), the chat's, the
persona's and the user's global ones (`lorebook_links`), each once (the chat's link wins, then the
persona's, the character's, the global). A shared room reads its owner's books: someone invited in
brings their persona, not their own World Info.

Placement, chosen for the KV cache: activated entries never go into the system prompt (identical every
turn, so llama.cpp reuses it); an `@depth` entry goes at its depth with its role, and every other
position goes in one system message at the user's lore depth (2: before the last two messages; counted from
the message being answered, see `lore_depth`). In that
message the entries keep SillyTavern's order of positions — before the character, the example positions,
after the character, then the author's-note top and bottom (Bostonia has no author's note or separate
example block to put them in) — and within a position, ascending `insertion_order`.

Lore keeps the same room in every prompt of a chat, the most its books could put there
(`PromptInjection.reserve`): what fires changes from turn to turn (a reply and the warm-up after it scan
different messages), and a lore block that grew or shrank would move where the kept history of a long
chat starts, which costs a full re-read of the KV cache.

Timed effects and match memory are written only when a reply is stored (`reply_stored`): a preview of
the prompt or a cache warm-up sees the same lore but starts no sticky or cooldown.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from bostonia.lore.activation import ScanContext, ScanResult, scan
from bostonia.lore.compiled import SOURCES, CompiledBooks, CompiledEntry, compile_book
from bostonia.lore.schemas import LoreSettings
from bostonia.lore.store import LorebookStore
from bostonia.lore.timed import EntryState
from bostonia.lore.vectors import Embedder, VectorMatcher
from bostonia.prompt.builder import PromptInjection

# The order of World Info positions inside the lore message (see the module docstring).
PLACEMENT_ORDER = {"before_char": 0, "em_top": 1, "em_bottom": 2, "after_char": 3, "an_top": 4, "an_bottom": 5}
STRATEGY_ORDER = {
    "character_first": ("chat", "persona", "character", "global"),
    "global_first": ("chat", "persona", "global", "character"),
}
PENDING_PER_PROCESS = 256
DEFAULT_CONTEXT = 4096
# Entries count their tokens as an estimate (4 characters a token); the prompt counts them with the model's
# tokenizer and adds each message's overhead. The room lore keeps is its most, with this much to spare.
ROOM_MARGIN = 1.25
ROOM_OVERHEAD = 16


class ChatPersona(Protocol):
    """Which persona a chat speaks as (its own, else the user's default): its id and name."""

    async def chat_persona(self, user: Any, persona_id: str | None) -> tuple[str | None, str]: ...


class LoreInjector:
    def __init__(
        self,
        lorebooks: LorebookStore,
        *,
        personas: ChatPersona | None = None,
        context_tokens: Callable[[], int] | None = None,
        embedder: Embedder | None = None,
        greeting_index: Callable[[Any], Awaitable[int | None]] | None = None,
        member_books: Callable[[Any], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.lorebooks = lorebooks
        self.personas = personas
        self.context_tokens = context_tokens or (lambda: DEFAULT_CONTEXT)
        self.vectors = VectorMatcher(embedder) if embedder is not None else None
        self.greeting_index = greeting_index
        self.member_books = member_books  # conversation -> its characters' own books (a group: every member's)
        self.books = CompiledBooks()
        # (conversation id, the history the scan answered) -> its state changes, until the reply is stored.
        # Keyed by the history too: the warm-up after a reply scans the same conversation, and may do so while
        # the next reply is generating; it must not take the place of that reply's changes.
        self._pending: OrderedDict[tuple[str, tuple[Any, ...]], dict[tuple[str, str], EntryState | None]] = (
            OrderedDict()
        )
        self.last: dict[str, ScanResult] = {}  # conversation id -> the latest scan (for tests and benchmarks)

    @staticmethod
    def history_key(history: Sequence[Any]) -> tuple[Any, ...]:
        last = history[-1] if history else None
        return (len(history), getattr(last, "id", None) or (last.content if last is not None else None))

    async def _entries(
        self, user: Any, conversation: Any, character: Any
    ) -> tuple[list[CompiledEntry], LoreSettings, list[EntryState]]:
        persona_id, persona_name = None, getattr(user, "display_name", "")
        owner_id = getattr(conversation, "user_id", user.id)
        if self.personas is not None and owner_id == user.id:
            persona_id, persona_name = await self.personas.chat_persona(user, conversation.persona_id)
        books = await self.member_books(conversation) if self.member_books is not None else character.lorebook_id
        inputs = await self.lorebooks.turn_inputs(owner_id, conversation.id, books, persona_id)
        if not inputs.books:
            return [], inputs.settings, []
        by_source: dict[str, list[CompiledEntry]] = {source: [] for source in SOURCES}
        for ref in inputs.books:
            key = CompiledBooks.key(ref.id, ref.updated_at, ref.source, inputs.settings, character.name, persona_name)
            compiled = self.books.get(key)
            if compiled is None:
                book = await self.lorebooks.get(ref.id)
                if book is None:
                    continue
                compiled = compile_book(book, ref.source, inputs.settings, character.name, persona_name)
                self.books.put(key, compiled)
            by_source[ref.source] += compiled
        order = STRATEGY_ORDER.get(inputs.settings.insertion_strategy)
        if order is None:  # "evenly": character and global lore as one list
            evenly = sorted(by_source["character"] + by_source["global"], key=lambda e: -e.order)
            groups = [by_source["chat"], by_source["persona"], evenly]
        else:
            groups = [by_source[source] for source in order]
        entries = [entry for group in groups for entry in sorted(group, key=lambda e: -e.order)]
        return entries, inputs.settings, inputs.state

    async def activate(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> tuple[ScanResult | None, LoreSettings]:
        entries, settings, state = await self._entries(user, conversation, character)
        if not entries:
            return None, settings
        contents = [message.content for message in history]
        hits: dict[str, float] = {}
        if self.vectors is not None and settings.vector_enabled:
            hits = await self.vectors.hits(entries, contents, settings)
        greeting = None
        if self.greeting_index is not None and history and any(e.decorators.is_greeting is not None for e in entries):
            greeting = await self.greeting_index(history[0])
        ctx = ScanContext(
            messages=contents[::-1],
            settings=settings,
            chat_length=len(history),
            assistant_messages=sum(1 for message in history if message.role == "assistant"),
            seed=f"{conversation.id}|{len(history)}",
            context_tokens=self.context_tokens(),
            greeting_index=greeting,
            state=state,
            vector_hits=hits,
        )
        return scan(entries, ctx), settings

    async def injections(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        result, settings = await self.activate(user, conversation, character, history)
        if result is None:
            return []
        self.last[conversation.id] = result
        if len(self.last) > PENDING_PER_PROCESS:
            self.last.pop(next(iter(self.last)))
        key = (conversation.id, self.history_key(history))
        self._pending[key] = result.timed.changes
        self._pending.move_to_end(key)
        if len(self._pending) > PENDING_PER_PROCESS:
            self._pending.popitem(last=False)
        return place(result, settings, lore_depth(settings, history))

    async def reply_stored(self, user: Any, conversation: Any, history: Sequence[Any], message: Any) -> None:
        """The reply to `history` was stored: the timed effects of the scan that built its prompt begin."""
        changes = self._pending.pop((conversation.id, self.history_key(history)), None)
        if changes:
            await self.lorebooks.apply_state(conversation.id, changes)


def lore_depth(settings: LoreSettings, history: Sequence[Any]) -> int:
    """Where the lore message goes: the user's lore depth counts back from the message being answered. A prompt
    that ends with the character's message answers nothing new yet — the warm-up read after each reply, before
    the user writes; a continuation; a group's next speaker — so there the lore goes one message nearer the
    end, where the next reply's prompt will have it once the user's message follows. The warm-up then reads
    the lore at its place in the next prompt, and the reply re-reads only from there (when what fires is the
    same, only the new message): putting it at the reply's depth in the warm-up's prompt too made every reply
    re-read the whole last exchange (~280 tokens at turn 30 of a 3,000-token chat at depth 2, most of its time to
    the first token)."""
    if settings.depth > 0 and history and history[-1].role == "assistant":
        return settings.depth - 1
    return settings.depth


def place(result: ScanResult, settings: LoreSettings, depth: int | None = None) -> list[PromptInjection]:
    depth = settings.depth if depth is None else depth
    fired = {item.entry_id: item for item in result.fired()}
    block = sorted(
        (entry for entry, _ in result.activated if entry.placement != "at_depth" and entry.content),
        key=lambda e: (PLACEMENT_ORDER.get(e.placement, 3), e.order),
    )
    deep = sorted(
        (entry for entry, _ in result.activated if entry.placement == "at_depth" and entry.content),
        key=lambda e: (-e.depth, e.role, e.order),
    )
    room = int(result.room * ROOM_MARGIN) + ROOM_OVERHEAD if result.room else 0
    out = [PromptInjection(name="lore", content="", depth=depth, reserve=room)]
    out += [
        PromptInjection(
            name="lore",
            content=entry.content,
            depth=depth,
            role="system",
            details=msgspec.to_builtins(fired[entry.id]),
        )
        for entry in block
    ]
    out += [
        PromptInjection(
            name="lore",
            content=entry.content,
            depth=entry.depth,
            role=entry.role,  # type: ignore[arg-type]
            details=msgspec.to_builtins(fired[entry.id]),
        )
        for entry in deep
    ]
    return out
