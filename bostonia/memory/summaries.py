"""Rolling summaries: "the story so far" of chats past `SUMMARY_FROM` messages.

A summary covers the active path from its first message up to `covers_until_message_id`, and carries a
digest of exactly those messages (ids and text). It is used only while the digest still matches the
path: an edit, a delete, a swipe to another branch inside the covered range makes it stale, and a stale
summary is dropped and written again in the background. Each new summary folds the previous one and the
next stretch of messages (never the most recent `KEEP_RECENT`: those are in the prompt verbatim).
Summaries are generated on the model queue at background priority, like extraction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id
from bostonia.llm.base import ChatMessage, GenerationRequest, SamplingParams
from bostonia.memory.extraction import Generate
from bostonia.memory.schemas import Summary

log = logging.getLogger(__name__)
SUMMARY_FROM = 50  # messages on the path before a conversation gets a summary
KEEP_RECENT = 20  # the newest messages are never summarised: the prompt has them
REFRESH_EVERY = 30  # a summary is redone once this many messages have left the recent window since
CHUNK_CHARS = 6000  # messages folded into one summary at a time (the model's context is small)
SUMMARY_TOKENS = 220
# Summaries sit before the history (depth larger than any history), where they change rarely: only when the
# kept history's start moves (see `PromptInjection.covers`).
DEPTH = 100_000
INSTRUCTIONS = (
    "Summarise the story so far of a chat between {user} and {char} in at most 150 words: who they are, what "
    "happened, what was decided, facts worth keeping. Plain prose, past tense, no preamble."
)


def digest(messages: Sequence[Any]) -> str:
    h = hashlib.sha256()
    for message in messages:
        h.update(message.id.encode())
        h.update(b"\0")
        h.update(message.content.encode())
        h.update(b"\1")
    return h.hexdigest()


class StoredSummary(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    content: str
    covers_from_message_id: str | None
    covers_until_message_id: str | None
    covered_digest: str
    message_count: int
    created_at: str

    def public(self) -> Summary:
        return Summary(
            id=self.id,
            content=self.content,
            covers_from_message_id=self.covers_from_message_id,
            covers_until_message_id=self.covers_until_message_id,
            message_count=self.message_count,
            created_at=self.created_at,
        )


class SummaryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def newest(self, conversation_id: str, count: int) -> list[StoredSummary]:
        """The conversation's `count` newest summaries, oldest first."""
        rows = await self.db.fetchall(
            "select id, conversation_id, content, covers_from_message_id, covers_until_message_id, covered_digest,"
            " message_count, created_at from conversation_summaries where conversation_id = ?"
            " order by created_at desc, rowid desc limit ?",
            (conversation_id, count),
        )
        return [msgspec.convert(row, StoredSummary) for row in reversed(rows)]

    async def add(self, summary: StoredSummary, token_count: int) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            if not conn.execute("select 1 from conversations where id = ?", (summary.conversation_id,)).fetchone():
                return
            conn.execute(
                "insert into conversation_summaries (id, conversation_id, content, covers_from_message_id,"
                " covers_until_message_id, covered_digest, message_count, token_count, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    summary.id,
                    summary.conversation_id,
                    summary.content,
                    summary.covers_from_message_id,
                    summary.covers_until_message_id,
                    summary.covered_digest,
                    summary.message_count,
                    token_count,
                    summary.created_at,
                ),
            )

        await self.db.write(insert)

    async def drop(self, summary_ids: Sequence[str]) -> None:
        """Delete these summaries (by id: a summary written meanwhile by the worker stays)."""
        if summary_ids:
            await self.db.execute_write(
                f"delete from conversation_summaries where id in ({', '.join('?' * len(summary_ids))})",
                tuple(summary_ids),
            )


def still_valid(summary: StoredSummary, path: Sequence[Any]) -> bool:
    """Whether the summary covers exactly the first messages of `path` as they are now."""
    count = summary.message_count
    return (
        0 < count <= len(path)
        and path[count - 1].id == summary.covers_until_message_id
        and digest(path[:count]) == summary.covered_digest
    )


class Summarizer:
    def __init__(
        self,
        store: SummaryStore,
        generate: Generate,
        path: Any,
        names: Any,
        owner: Any,
        *,
        indexed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.generate = generate
        self.path = path  # async (conversation_id) -> the active path, oldest first
        self.names = names  # async (conversation_id) -> (user name, character name) | None
        self.owner = owner  # async (conversation_id) -> user id | None
        # Awaited before each summary: the recall index catches up first. An imported 1,000-message chat asks
        # for dozens of summaries, whose generation took the cores the indexer needed (the chat became
        # searchable in 76 s instead of 34).
        self.indexed = indexed
        self._queue: asyncio.Queue[str] | None = None
        self._queued: set[str] = set()
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    def messages_changed(self, conversation_id: str, message_ids: Sequence[str] | None = None) -> None:
        """The chat listener: check the summary against the path, and write the next one when due."""
        if self._queue is not None and conversation_id not in self._queued:
            self._queued.add(conversation_id)
            self._queue.put_nowait(conversation_id)

    async def current(self, conversation_id: str, path: Sequence[Any]) -> StoredSummary | None:
        """The summary to show for this path, if one is valid (a stale one is dropped and redone)."""
        summaries = await self.usable(conversation_id, path, count=1)
        return summaries[-1] if summaries else None

    async def usable(self, conversation_id: str, path: Sequence[Any], count: int = 3) -> list[StoredSummary]:
        """The newest summaries still valid for this path, oldest first (each folds the ones before it; the
        prompt shows one of them, see `MemoryInjector`). Stale ones are dropped and written again in the
        background, from the newest one still valid."""
        summaries = await self.store.newest(conversation_id, count)
        valid: list[StoredSummary] = []
        stale: list[str] = []
        for summary in summaries:  # one digest each: a path's digest hashes every message it covers
            if still_valid(summary, path):
                valid.append(summary)
            else:
                stale.append(summary.id)
        if stale:
            # Only the ones read here: deleting the conversation's all would race the worker, whose fresh
            # summary (written between this read and the delete) was lost and generated again.
            await self.store.drop(stale)
            self.messages_changed(conversation_id)
        return valid

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            conversation_id = await self._queue.get()
            self._queued.discard(conversation_id)
            try:
                if self.indexed is not None:
                    await self.indexed()
                await self.refresh(conversation_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("summarising conversation %s failed", conversation_id)

    async def refresh(self, conversation_id: str) -> StoredSummary | None:
        """Write the next summary if one is due; returns it (None if none was due or the model was busy)."""
        path = await self.path(conversation_id)
        names, owner = await self.names(conversation_id), await self.owner(conversation_id)
        if names is None or owner is None:
            return None
        previous = await self.current(conversation_id, path)
        summarisable = len(path) - KEEP_RECENT
        if len(path) <= SUMMARY_FROM or summarisable <= 0:
            return None
        covered = previous.message_count if previous else 0
        if previous is not None and summarisable - covered < REFRESH_EVERY:
            return None
        chunk: list[Any] = []
        used = 0
        for message in path[covered:summarisable]:
            used += len(message.content) + 20
            if chunk and used > CHUNK_CHARS:
                break
            chunk.append(message)
        user, char = names
        lines = "\n".join(f"{user if m.role == 'user' else char}: {m.content}" for m in chunk)
        story = f"Story so far:\n{previous.content}\n\nWhat happened next:\n{lines}" if previous else lines
        request = GenerationRequest(
            messages=(
                ChatMessage("system", INSTRUCTIONS.format(user=user, char=char)),
                ChatMessage("user", story),
            ),
            params=SamplingParams(max_tokens=SUMMARY_TOKENS, temperature=0.3, repeat_penalty=1.1),
        )
        text = await self.generate(owner, request)
        if not text or not text.strip():
            return None
        # The path may have changed while the model wrote: the summary must describe what is there now.
        now = await self.path(conversation_id)
        until = covered + len(chunk)
        if len(now) < until or digest(now[:until]) != digest(path[:until]):
            self.messages_changed(conversation_id)
            return None
        summary = StoredSummary(
            id=new_id(),
            conversation_id=conversation_id,
            content=" ".join(text.split()),
            covers_from_message_id=path[0].id,
            covers_until_message_id=path[until - 1].id,
            covered_digest=digest(path[:until]),
            message_count=until,
            created_at=path[until - 1].created_at,
        )
        await self.store.add(summary, token_count=len(summary.content) // 4)
        if summarisable - until >= REFRESH_EVERY:
            self.messages_changed(conversation_id)  # more to fold in: the next stretch
        return summary
