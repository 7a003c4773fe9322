"""Memory for a conversation: search over everything it remembers, index status, and (below) the memories
extracted from it. Authorization is the conversation's: whoever may read the conversation may read its
memory (its owner; admins only with `[privacy] admin_can_read_chats`, audited); only the owner changes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from bostonia.chat.schemas import Conversation
from bostonia.chat.service import ChatService
from bostonia.errors import InvalidInput
from bostonia.identity import User
from bostonia.memory.embedder import Embedder
from bostonia.memory.retrieval import Candidate, Query, fts_match, fuse, parse_stamp, read_query
from bostonia.memory.schemas import IndexStatus, MemoryType, SearchItem
from bostonia.memory.store import Document, RecallStore
from bostonia.memory.vectors import VectorSearch

MAX_K = 50
MAX_QUERY_CHARS = 2000
CANDIDATES = 100  # from each of the vector and BM25 sides


class MemoryService:
    def __init__(self, chat: ChatService, store: RecallStore, embedder: Embedder, vectors: VectorSearch) -> None:
        self.chat = chat
        self.store = store
        self.embedder = embedder
        self.vectors = vectors

    async def status(self, user: User, conversation_id: str) -> IndexStatus:
        await self.chat.get_conversation(user, conversation_id, access="read")
        indexed, pending = await asyncio.gather(
            self.store.indexed(conversation_id), self.store.pending(conversation_id)
        )
        return IndexStatus(indexed_messages=indexed, pending=pending)

    async def search(self, user: User, conversation_id: str, q: str, k: int = 10) -> list[SearchItem]:
        conversation = await self.chat.get_conversation(user, conversation_id, access="read")
        if not q.strip():
            raise InvalidInput("q must not be blank", details={"field": "q"})
        if len(q) > MAX_QUERY_CHARS:
            raise InvalidInput(f"q is longer than {MAX_QUERY_CHARS} characters", details={"field": "q"})
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}", details={"field": "k"})
        return await self.recall(conversation, q, k)

    async def recall(
        self,
        conversation: Conversation,
        text: str,
        k: int,
        *,
        context: str = "",
        exclude_messages: Sequence[str] = (),
        mode: str = "hybrid",
    ) -> list[SearchItem]:
        """The `k` best items for `text` (plus `context`, the turns before it, weighted lower), leaving out
        documents of `exclude_messages` (already in the prompt). `mode` "vector" or "bm25" ranks by one
        side alone (the benchmark's baselines)."""
        names = await self.store.speaker_names(conversation.id) or ("", "")
        now = parse_stamp(conversation.last_message_at or "") or datetime.now(UTC)
        query = read_query(text, now=now, user_name=names[0], character_name=names[1])
        wanted = k + len(exclude_messages)
        vector_hits: dict[int, float] = {}
        lexical_hits: dict[int, float] = {}
        if mode in ("hybrid", "vector"):
            texts = [text, f"{context}\n{text}"] if context.strip() else [text]
            embedded = await asyncio.to_thread(self.embedder.embed, texts)
            probe = embedded[0] if len(embedded) == 1 else embedded[0] + 0.5 * embedded[1]
            probe = probe / max(float((probe**2).sum()) ** 0.5, 1e-9)
            # A query naming a time ("in May") is often generic otherwise ("what happened in May?"): look
            # wider, and let the time bonus pick what was said then.
            limit = (CANDIDATES * (4 if query.window else 1)) if mode == "hybrid" else wanted
            vector_hits = await self.vectors.nearest(conversation.id, probe, max(limit, wanted))
        if mode in ("hybrid", "bm25"):
            terms = list(query.terms) + [t for t in read_query(context, now=now).terms if t not in query.terms]
            match = fts_match(terms[:64])
            if match:
                lexical_hits = await self.store.bm25(conversation.id, match, max(CANDIDATES, wanted))
        if mode != "hybrid":
            ranked = sorted({**vector_hits, **lexical_hits}.items(), key=lambda item: -item[1])
            documents = await self.store.documents([i for i, _ in ranked])
            return self._items(ranked, documents, exclude_messages, k)
        return await self._fused(query, vector_hits, lexical_hits, exclude_messages, k, now)

    async def _fused(
        self,
        query: Query,
        vector_hits: dict[int, float],
        lexical_hits: dict[int, float],
        exclude: Sequence[str],
        k: int,
        now: datetime,
    ) -> list[SearchItem]:
        documents = await self.store.documents(list({**vector_hits, **lexical_hits}))
        neighbours = await self.store.neighbours(list(documents.values()))
        extra = {n for found in neighbours.values() for n in found if n not in documents}
        documents.update(await self.store.documents(list(extra)))
        candidates = {
            i: Candidate(id=i, kind=d.kind, role=d.role, created_at=d.created_at, importance=d.importance)
            for i, d in documents.items()
        }
        # Neighbours of the neighbours brought in are not needed: they score through their own side.
        ranked = fuse(query, vector_hits, lexical_hits, candidates, neighbours, now=now)
        return self._items(ranked, documents, exclude, k)

    @staticmethod
    def _items(
        ranked: Sequence[tuple[int, float]], documents: dict[int, Document], exclude: Sequence[str], k: int
    ) -> list[SearchItem]:
        skip = set(exclude)
        items: list[SearchItem] = []
        for document_id, score in ranked:
            document = documents.get(document_id)
            if document is None or document.message_id in skip:
                continue
            items.append(_item(document, score))
            if len(items) == k:
                break
        return items


def _item(document: Document, score: float) -> SearchItem:
    memory_type: MemoryType = "message" if document.kind == "message" else "knowledge"
    return SearchItem(
        content=document.content,
        score=round(score, 4),
        memory_type=memory_type,
        source_message_ids=[document.message_id] if document.message_id else [],
        created_at=document.created_at,
        role=document.role,
        memory_id=document.memory_id,
    )
