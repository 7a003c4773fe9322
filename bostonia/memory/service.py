"""Memory for a conversation: search over everything it remembers, index status, and (below) the memories
extracted from it. Authorization is the conversation's: whoever may read the conversation may read its
memory (its owner; admins only with `[privacy] admin_can_read_chats`, audited); only the owner changes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bostonia.chat.schemas import Conversation
from bostonia.chat.service import ChatService
from bostonia.embeddings import Embedder
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User
from bostonia.memory.extraction import ExtractionJob, Extractor
from bostonia.memory.knowledge import KnowledgeHit, KnowledgeStore
from bostonia.memory.records import MemoryRecord, MemoryRecords
from bostonia.memory.retrieval import Candidate, Query, fts_match, fuse, parse_stamp, read_query
from bostonia.memory.schemas import (
    ExtractionStatus,
    FactChanges,
    IndexStatus,
    Memory,
    MemoryOverview,
    MemoryType,
    NewFact,
    SearchItem,
    Summary,
)
from bostonia.memory.store import Document, RecallStore
from bostonia.memory.summaries import Summarizer
from bostonia.memory.vectors import VectorSearch

MAX_K = 50
MAX_QUERY_CHARS = 2000
CANDIDATES = 100  # from each of the vector and BM25 sides
KNOWLEDGE_CANDIDATES = 20  # chunks of knowledge files, from each side


class MemoryService:
    def __init__(
        self,
        chat: ChatService,
        store: RecallStore,
        embedder: Embedder,
        vectors: VectorSearch,
        records: MemoryRecords,
        extractor: Extractor,
        summarizer: Summarizer,
        knowledge: KnowledgeStore | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.chat = chat
        self.store = store
        self.embedder = embedder
        self.vectors = vectors
        self.records = records
        self.extractor = extractor
        self.summarizer = summarizer

    # -- what the character remembers ------------------------------------------------------------------

    async def overview(self, user: User, conversation_id: str) -> MemoryOverview:
        await self.chat.get_conversation(user, conversation_id, access="read")
        memories = [_memory(r) for r in await self.records.of_conversation(conversation_id)]
        return MemoryOverview(
            conversation_id=conversation_id,
            memories=memories,
            summary=await self._summary(conversation_id),
            index=IndexStatus(
                indexed_messages=await self.store.indexed(conversation_id),
                pending=await self.store.pending(conversation_id),
            ),
            extraction_pending=await self.records.count_unextracted(conversation_id),
        )

    async def relationships(self, user: User, conversation_id: str) -> list[Memory]:
        await self.chat.get_conversation(user, conversation_id, access="read")
        return [_memory(r) for r in await self.records.of_conversation(conversation_id, kind="relationship")]

    async def summary(self, user: User, conversation_id: str) -> Summary | None:
        await self.chat.get_conversation(user, conversation_id, access="read")
        return await self._summary(conversation_id)

    async def _summary(self, conversation_id: str) -> Summary | None:
        path = await self.chat.conversations.path(conversation_id)
        current = await self.summarizer.current(conversation_id, path)
        return current.public() if current else None

    async def add_fact(self, user: User, conversation_id: str, fact: NewFact) -> Memory:
        await self.chat.get_conversation(user, conversation_id)
        content = " ".join(fact.content.split())
        if not content:
            raise InvalidInput("content must not be blank", details={"field": "content"})
        for message_id in fact.source_message_ids:
            await self.chat.message(user, conversation_id, message_id)  # 404 unless it is this conversation's
        record = await self.records.add(
            conversation_id,
            kind=fact.memory_type,
            content=content,
            importance=fact.importance,
            source_message_ids=list(dict.fromkeys(fact.source_message_ids)),
            origin="user",
            pinned=fact.is_pinned,
        )
        if record is None:
            raise InvalidInput("this is remembered already", code="duplicate_memory", details={"field": "content"})
        await self.extractor.index(record)
        return _memory(record)

    async def update_fact(self, user: User, conversation_id: str, memory_id: str, changes: FactChanges) -> Memory:
        record = await self._record(user, conversation_id, memory_id)
        fields: dict[str, object] = {}
        if changes.content is not None:
            content = " ".join(changes.content.split())
            if not content:
                raise InvalidInput("content must not be blank", details={"field": "content"})
            fields["content"] = content
        if changes.memory_type is not None:
            fields["kind"] = changes.memory_type
        if changes.importance is not None:
            fields["importance"] = changes.importance
        if changes.is_pinned is not None:
            fields["is_pinned"] = int(changes.is_pinned)
        if fields.get("content", record.content) != record.content:
            fields["origin"] = "user"  # rewritten by the user: no longer the model's, nor tied to its sources
        updated = await self.records.update(memory_id, fields)
        if updated is None:
            raise NotFound("memory not found")
        await self.extractor.index(updated)
        return _memory(updated)

    async def delete_fact(self, user: User, conversation_id: str, memory_id: str) -> None:
        await self._record(user, conversation_id, memory_id)
        await self.records.delete(memory_id)
        self.vectors.removed(conversation_id)

    async def _record(self, user: User, conversation_id: str, memory_id: str) -> MemoryRecord:
        await self.chat.get_conversation(user, conversation_id)
        record = await self.records.get(memory_id)
        if record is None or record.conversation_id != conversation_id:
            raise NotFound("memory not found")
        return record

    # -- extraction jobs -------------------------------------------------------------------------------

    async def extract(self, user: User, conversation_id: str) -> ExtractionStatus:
        conversation = await self.chat.get_conversation(user, conversation_id)
        return _status(self.extractor.submit(conversation.user_id, conversation_id))

    async def extraction(self, user: User, job_id: str) -> ExtractionStatus:
        job = self.extractor.jobs.get(job_id)
        if job is None:
            raise NotFound("extraction job not found")
        await self.chat.get_conversation(user, job.conversation_id, access="read")
        return _status(job)

    # -- recall ------------------------------------------------------------------------------------------

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
        now: datetime | None = None,
    ) -> list[SearchItem]:
        """The `k` best items for `text` (plus `context`, the turns before it, weighted lower), leaving out
        documents of `exclude_messages` (already in the prompt). `now` anchors "last week" and recency
        (default: the conversation's last message). `mode` "vector" or "bm25" ranks by one side alone
        (the benchmark's baselines).

        Excluded documents are dropped before fusion, not after: the ranking of the rest is then the same
        whatever was added to the excluded (recent) part since — the prompt a warm-up prepared and the
        reply's prompt get the same memories, and the model's KV cache holds."""
        now = now or parse_stamp(conversation.last_message_at or "") or datetime.now(UTC)
        plain = read_query(text, now=now)  # words and time; who it is about needs the names (below)
        vector_limit = (CANDIDATES * (4 if plain.window else 1)) if mode == "hybrid" else k
        lexical_limit = max(CANDIDATES, k)
        extra = len(exclude_messages)

        async def by_vector() -> tuple[Any, dict[int, float]]:
            if mode not in ("hybrid", "vector"):
                return None, {}
            texts = [text, f"{context}\n{text}"] if context.strip() else [text]
            embedded = await asyncio.to_thread(self.embedder.embed, texts)
            probe = embedded[0] if len(embedded) == 1 else embedded[0] + 0.5 * embedded[1]
            probe = probe / max(float((probe**2).sum()) ** 0.5, 1e-9)
            # A query naming a time ("in May") is often generic otherwise ("what happened in May?"): look
            # wider, and let the time bonus pick what was said then.
            return probe, await self.vectors.nearest(conversation.id, probe, vector_limit + extra)

        async def by_words() -> dict[int, float]:
            if mode not in ("hybrid", "bm25"):
                return {}
            terms = list(plain.terms) + [t for t in read_query(context, now=now).terms if t not in plain.terms]
            match = fts_match(terms[:64])
            return await self.store.bm25(conversation.id, match, lexical_limit + extra) if match else {}

        # The query's embedding, BM25 and the speakers' names at once: each waits on a different thread.
        (probe, vector_hits), lexical_hits, names = await asyncio.gather(
            by_vector(), by_words(), self.store.speaker_names(conversation.id)
        )
        names = names or ("", "")
        query = read_query(text, now=now, user_name=names[0], character_name=names[1])
        documents = await self.store.documents(list({**vector_hits, **lexical_hits}))
        if exclude_messages:
            skip = set(exclude_messages)
            keep = {i for i, d in documents.items() if d.message_id not in skip}
            vector_hits = _best({i: s for i, s in vector_hits.items() if i in keep}, vector_limit)
            lexical_hits = _best({i: s for i, s in lexical_hits.items() if i in keep}, lexical_limit)
        if mode != "hybrid":
            ranked = sorted({**vector_hits, **lexical_hits}.items(), key=lambda item: -item[1])
            return self._items(ranked, documents, {}, exclude_messages, k)
        files = await self.knowledge.applicable(conversation, conversation.character_id) if self.knowledge else []
        if files and self.knowledge is not None and probe is not None:
            # Knowledge chunks join the same ranking, under negative ids (they are not documents).
            match = fts_match(list(query.terms)[:64])
            found = await self.knowledge.knn(files, probe, KNOWLEDGE_CANDIDATES)
            vector_hits.update({-i: score for i, score in found.items()})
            if match:
                found = await self.knowledge.bm25(files, match, KNOWLEDGE_CANDIDATES)
                lexical_hits.update({-i: score for i, score in found.items()})
        return await self._fused(query, vector_hits, lexical_hits, documents, exclude_messages, k, now)

    async def _fused(
        self,
        query: Query,
        vector_hits: dict[int, float],
        lexical_hits: dict[int, float],
        documents: dict[int, Document],
        exclude: Sequence[str],
        k: int,
        now: datetime,
    ) -> list[SearchItem]:
        ids = list({**vector_hits, **lexical_hits})
        documents = {i: d for i, d in documents.items() if i in vector_hits or i in lexical_hits}
        chunks = await self.knowledge.chunks([-i for i in ids if i < 0]) if self.knowledge else {}
        neighbours = await self.store.neighbours(list(documents.values()))
        skip = set(exclude)
        extra = {n for found in neighbours.values() for n in found if n not in documents}
        documents.update(
            {i: d for i, d in (await self.store.documents(list(extra))).items() if d.message_id not in skip}
        )
        neighbours = {i: [n for n in found if n in documents] for i, found in neighbours.items()}
        knowledge = {-i: chunk for i, chunk in chunks.items()}
        candidates = {
            i: Candidate(
                id=i, kind=d.kind, role=d.role, created_at=d.created_at, importance=d.importance, pinned=d.pinned
            )
            for i, d in documents.items()
        }
        candidates.update(
            {i: Candidate(id=i, kind="knowledge", role=None, created_at=c.created_at) for i, c in knowledge.items()}
        )
        # Neighbours of the neighbours brought in are not needed: they score through their own side.
        ranked = fuse(query, vector_hits, lexical_hits, candidates, neighbours, now=now)
        return self._items(ranked, documents, knowledge, exclude, k)

    @staticmethod
    def _items(
        ranked: Sequence[tuple[int, float]],
        documents: dict[int, Document],
        knowledge: dict[int, KnowledgeHit],
        exclude: Sequence[str],
        k: int,
    ) -> list[SearchItem]:
        skip = set(exclude)
        items: list[SearchItem] = []
        for document_id, score in ranked:
            if (chunk := knowledge.get(document_id)) is not None:
                items.append(
                    SearchItem(
                        content=chunk.content,
                        score=round(score, 4),
                        memory_type="knowledge",
                        source_message_ids=[],
                        created_at=chunk.created_at,
                        source=chunk.file_name,
                    )
                )
            else:
                document = documents.get(document_id)
                if document is None or document.message_id in skip:
                    continue
                items.append(_item(document, score))
            if len(items) == k:
                break
        return items


def _item(document: Document, score: float) -> SearchItem:
    memory_type: MemoryType = "message"
    sources = [document.message_id] if document.message_id else []
    if document.kind == "memory":
        memory_type = document.memory_kind or "fact"  # type: ignore[assignment]
        sources = document.source_message_ids
    elif document.kind == "knowledge":
        memory_type = "knowledge"
    return SearchItem(
        content=document.content,
        score=round(score, 4),
        memory_type=memory_type,
        source_message_ids=sources,
        created_at=document.created_at,
        role=document.role,
        memory_id=document.memory_id,
    )


def _best(scores: dict[int, float], count: int) -> dict[int, float]:
    """The `count` highest-scoring entries."""
    return dict(sorted(scores.items(), key=lambda item: -item[1])[: max(count, 0)])


def _memory(record: MemoryRecord) -> Memory:
    return Memory(
        id=record.id,
        conversation_id=record.conversation_id,
        memory_type=record.kind,  # type: ignore[arg-type]
        content=record.content,
        importance=record.importance,
        source_message_ids=record.source_message_ids,
        is_pinned=record.is_pinned,
        origin=record.origin,  # type: ignore[arg-type]
        subject=record.subject,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _status(job: ExtractionJob) -> ExtractionStatus:
    return ExtractionStatus(
        id=job.id,
        conversation_id=job.conversation_id,
        status=job.status,  # type: ignore[arg-type]
        turns_total=job.turns_total,
        turns_done=job.turns_done,
        proposed=job.proposed,
        kept=job.kept,
        error=job.error,
    )
