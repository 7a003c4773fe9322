"""Keeping the recall index up to date: every message gets a document (BM25 keys + an embedding).

Chat tells the indexer that a conversation's messages changed (`messages_changed`, a chat listener wired
in app.py); the indexer forgets the documents of edited messages and wakes its worker. The worker asks
the database what is missing — messages without a document — so nothing depends on an event arriving:
a restart, an import of 10,000 messages or a crash mid-way all resume from the database. Work goes in
batches (embedding is batched, one transaction per batch) on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence

import numpy as np

from bostonia.embeddings import Embedder, Vectors
from bostonia.memory.store import NewDocument, RecallStore, UnindexedMessage
from bostonia.memory.vectors import VectorSearch
from bostonia.prompt.reasoning import without_reasoning

log = logging.getLogger(__name__)
BATCH = 64
SPREAD_FROM = 16  # messages in a batch worth two threads (a turn's one or two are not)
CONTEXT_CHARS = 300  # how much of the previous turn goes in a message's BM25 context
# MiniLM reads 256 word pieces, 900-1,000 characters of English: the rest of a longer message (a roleplay
# reply often is) was lost to its vector. A message over `WHOLE_UP_TO_CHARS` is embedded in runs of whole
# sentences and its vector is their mean. Measured on benchmarks/memory_set.py with ~1,000 characters of
# narration added to every turn: with the fact after it, hybrid recall@5 0.564 -> 0.609 (@10 0.673 ->
# 0.718); with the fact before it (where the cut lost nothing), 0.577 -> 0.551 (@10 0.609 -> 0.628). A
# threshold of 1,000 characters left messages the model cut unsplit: 0.513 and 0.551.
WHOLE_UP_TO_CHARS = 700
PASSAGE_CHARS = 700


# What a message says, for recall, without what only dresses it up: real chats carry a reasoning model's
# thinking (`without_reasoning`), HTML status panels and markup from cards that style their replies, and
# markdown images. They would crowd the 256 word pieces MiniLM reads and the BM25 terms.
HIDDEN_BLOCKS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
LINE_TAGS = re.compile(r"<(br|/p|/div|/li|/h[1-6]|/tr|hr)\b[^>]*>", re.IGNORECASE)
TAGS = re.compile(r"</?[a-zA-Z][\w:-]*(\s[^<>]*)?/?>")
IMAGES = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
BLANK_RUNS = re.compile(r"[ \t]+|\n\s*\n\s*")


def recall_text(content: str) -> str:
    """`content` as recall reads it (see `HIDDEN_BLOCKS`); the content itself if that leaves nothing."""
    if "<" not in content and "![" not in content:
        return content
    text = HIDDEN_BLOCKS.sub(" ", without_reasoning(content))
    text = TAGS.sub("", LINE_TAGS.sub("\n", text))
    text = IMAGES.sub(r"\1", text)
    text = BLANK_RUNS.sub(lambda m: " " if "\n" not in m.group() else "\n\n", text).strip()
    return text or content


def embedding_text(content: str, speaker: str) -> str:
    """What is embedded for a message: its recall text (`recall_text`), said by its speaker."""
    return f"{speaker}: {content}" if speaker else content


SENTENCE_END = re.compile(r"(?<=[.!?…*\"”])\s+")


def passages(text: str) -> list[str]:
    """`text` whole if it is short, else in runs of whole sentences of at most `PASSAGE_CHARS` (a longer
    sentence alone)."""
    if len(text) <= WHOLE_UP_TO_CHARS:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in SENTENCE_END.split(text):
        if current and len(current) + len(sentence) + 1 > PASSAGE_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    return [*out, current] if current else out or [text]


def embed_messages(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """One vector per text: its own, or the normalized mean of its passages' (see `WHOLE_UP_TO_CHARS`)."""
    parts = [passages(text) for text in texts]
    if all(len(part) == 1 for part in parts):
        return embedder.embed(texts)
    vectors = embedder.embed([passage for part in parts for passage in part])
    means = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
    start = 0
    for row, part in enumerate(parts):
        mean = vectors[start : start + len(part)].mean(axis=0)
        means[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        start += len(part)
    return means


def context_keys(message: UnindexedMessage, speaker: str) -> str:
    previous = recall_text(message.parent_content or "")[:CONTEXT_CHARS]
    return f"{speaker}\n{previous}".strip()


def balanced_halves(lengths: Sequence[int]) -> tuple[list[int], list[int]]:
    """Indexes of `lengths` in two halves of about equal total length (a chat alternates short lines and
    long replies: every other message would give one thread all the work), longest first."""
    halves: tuple[list[int], list[int]] = ([], [])
    totals = [0, 0]
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        lighter = 0 if totals[0] <= totals[1] else 1
        halves[lighter].append(index)
        totals[lighter] += lengths[index]
    return halves


class MemoryIndexer:
    """Indexes messages in the background; `ready()` tells whether a conversation is fully indexed."""

    def __init__(
        self,
        store: RecallStore,
        embedder: Embedder,
        vectors: VectorSearch,
        *,
        spread: Callable[[], bool] = lambda: False,
    ) -> None:
        """`spread`: whether a large batch may be embedded on two threads now (the machine's cores are free:
        no local model is generating)."""
        self.store = store
        self.embedder = embedder
        self.vectors = vectors
        self.spread = spread
        self._queue: asyncio.Queue[str] | None = None
        self._queued: set[str] = set()
        self._worker: asyncio.Task[None] | None = None
        self._pending_forgets: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self.on_indexed: list[Callable[[str, int], None]] = []  # progress observers (CLI bar, tests)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin indexing whatever is missing (messages stored while the server was down, imports)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())
        for conversation_id in await self.store.conversations_with_pending():
            self._enqueue(conversation_id)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    # -- the chat listener ------------------------------------------------------------------------

    def messages_changed(self, conversation_id: str, message_ids: Sequence[str] | None = None) -> None:
        """Chat stored, edited or deleted messages of a conversation (`message_ids`: the ones stored or
        edited, when known). Called on the event loop; returns at once."""
        if self._queue is None:
            return
        self._idle.clear()  # busy from now: `idle()` must not answer before this change is indexed
        if message_ids:
            task = asyncio.create_task(self._forget(conversation_id, list(message_ids)))
            self._pending_forgets.append(task)
            task.add_done_callback(self._pending_forgets.remove)
        else:
            self.vectors.removed(conversation_id)
            self._enqueue(conversation_id)

    async def _forget(self, conversation_id: str, message_ids: list[str]) -> None:
        # New messages have no document, so this only removes the stale ones of edited messages.
        if await self.store.forget_messages(message_ids):
            self.vectors.removed(conversation_id)
        self._enqueue(conversation_id)

    def _enqueue(self, conversation_id: str) -> None:
        if self._queue is not None and conversation_id not in self._queued:
            self._queued.add(conversation_id)
            self._idle.clear()
            self._queue.put_nowait(conversation_id)

    # -- the worker -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            if self._queue.empty() and not self._pending_forgets:
                self._idle.set()
            conversation_id = await self._queue.get()
            self._queued.discard(conversation_id)
            try:
                await self.index_conversation(conversation_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad conversation must not stop indexing the others
                log.exception("indexing conversation %s failed", conversation_id)

    async def index_conversation(self, conversation_id: str) -> int:
        """Index every message of the conversation that has no document yet; returns how many."""
        names = await self.store.speaker_names(conversation_id)
        if names is None:
            return 0
        done = 0
        while batch := await self.store.unindexed(conversation_id, BATCH):
            speakers = [names[0] if m.role == "user" else names[1] for m in batch]
            contents = [recall_text(m.content) for m in batch]
            vectors = await self._embed([embedding_text(c, s) for c, s in zip(contents, speakers, strict=True)])
            documents = [
                NewDocument(
                    conversation_id=conversation_id,
                    kind="message",
                    message_id=m.id,
                    role=m.role,
                    parent_message_id=m.parent_id,
                    content=content,
                    context=context_keys(m, s),
                    created_at=m.created_at,
                )
                for m, s, content in zip(batch, speakers, contents, strict=True)
            ]
            stored = await self.store.add(documents, vectors)
            if not stored:  # the whole batch vanished meanwhile (deleted): nothing left to do now
                break
            positions = [position for position, _ in stored]
            self.vectors.added(conversation_id, [i for _, i in stored], np.asarray(vectors)[positions])
            done += len(stored)
            for observer in self.on_indexed:
                observer(conversation_id, len(stored))
        return done

    async def _embed(self, texts: list[str]) -> Vectors:
        """Off the event loop, `SPREAD_FROM` messages at a time: each in two halves at once while the cores
        are free (the model runs one thread per call: two at once index an imported chat twice as fast on
        two cores). Asked again for every piece, so a reply that starts meanwhile shares the cores with one
        piece at most (well under a second), then has one to itself as before."""
        if len(texts) < SPREAD_FROM:
            return await asyncio.to_thread(embed_messages, self.embedder, texts)
        pieces = []
        for start in range(0, len(texts), SPREAD_FROM):
            piece = texts[start : start + SPREAD_FROM]
            if len(piece) < 2 or not self.spread():
                pieces.append(await asyncio.to_thread(embed_messages, self.embedder, piece))
                continue
            halves = balanced_halves([len(text) for text in piece])
            done = await asyncio.gather(
                *(asyncio.to_thread(embed_messages, self.embedder, [piece[i] for i in half]) for half in halves)
            )
            vectors = np.empty((len(piece), done[0].shape[1]), dtype=np.float32)
            for half, embedded in zip(halves, done, strict=True):
                vectors[half] = embedded
            pieces.append(vectors)
        return np.concatenate(pieces)

    async def idle(self, timeout: float | None = None) -> None:
        """Wait until nothing is queued (tests, the CLI)."""
        await asyncio.wait_for(self._idle.wait(), timeout)
