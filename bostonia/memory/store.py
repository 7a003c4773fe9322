"""SQL of the recall index (`memory_documents`, `memory_fts`, `memory_vectors`); messages are only read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from bostonia.db import Database, sqlite3
from bostonia.embeddings import Vectors

# Messages of a conversation that have no document yet (new, or forgotten after an edit), oldest first.
UNINDEXED = """
    select m.id, m.parent_id, m.role, m.content, m.created_at, p.content as parent_content
    from messages m
    left join messages p on p.id = m.parent_id
    where m.conversation_id = :conversation_id and m.role != 'system' and length(trim(m.content)) > 0
      and not exists (select 1 from memory_documents d where d.message_id = m.id)
    order by m.created_at, m.rowid
    limit :limit
"""
PENDING = """
    select count(*) from messages m
    where m.conversation_id = ? and m.role != 'system' and length(trim(m.content)) > 0
      and not exists (select 1 from memory_documents d where d.message_id = m.id)
"""


class UnindexedMessage(msgspec.Struct, frozen=True):
    id: str
    parent_id: str | None
    role: str
    content: str
    created_at: str
    parent_content: str | None


class NewDocument(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    kind: str  # 'message' | 'memory' | 'knowledge'
    content: str
    created_at: str
    message_id: str | None = None
    memory_id: str | None = None
    role: str | None = None
    parent_message_id: str | None = None
    context: str = ""
    facts: str = ""
    importance: float = 0.5


class Document(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    conversation_id: str
    kind: str
    content: str
    created_at: str
    message_id: str | None
    memory_id: str | None
    role: str | None
    parent_message_id: str | None
    importance: float
    pinned: bool = False
    memory_kind: str | None = None  # fact, preference, relationship, event (for memories)
    source_message_ids: list[str] = msgspec.field(default_factory=list)


def scope_token(conversation_id: str) -> str:
    """The FTS token standing for a conversation (ids contain '-', which the tokenizer splits on)."""
    return "c" + "".join(ch for ch in conversation_id.lower() if ch.isalnum())


def vector_blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


class RecallStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what is left to index -------------------------------------------------------------------

    async def unindexed(self, conversation_id: str, limit: int) -> list[UnindexedMessage]:
        rows = await self.db.fetchall(UNINDEXED, {"conversation_id": conversation_id, "limit": limit})
        return [msgspec.convert(row, UnindexedMessage) for row in rows]

    async def pending(self, conversation_id: str) -> int:
        return int(await self.db.fetchval(PENDING, (conversation_id,)))

    async def indexed(self, conversation_id: str) -> int:
        return int(
            await self.db.fetchval(
                "select count(*) from memory_documents where conversation_id = ? and kind = 'message'",
                (conversation_id,),
            )
        )

    async def conversations_with_pending(self, conversation_id: str | None = None) -> list[str]:
        sql = """
            select distinct m.conversation_id from messages m
            where m.role != 'system' and length(trim(m.content)) > 0
              and not exists (select 1 from memory_documents d where d.message_id = m.id)
        """
        params: tuple[str, ...] = ()
        if conversation_id is not None:
            sql += " and m.conversation_id = ?"
            params = (conversation_id,)
        return [row["conversation_id"] for row in await self.db.fetchall(sql, params)]

    async def conversation_ids(self) -> list[str]:
        return [row["id"] for row in await self.db.fetchall("select id from conversations order by created_at")]

    async def speaker_names(self, conversation_id: str) -> tuple[str, str] | None:
        """(user's name, character's name) as the conversation shows them: an imported chat's own names,
        else the persona's (or the account's) and the character's."""
        row = await self.db.fetchone(
            """
            select c.name as character_name, coalesce(p.name, u.display_name) as user_name,
                   json_extract(v.metadata, '$.sillytavern.header.user_name') as imported_user,
                   json_extract(v.metadata, '$.sillytavern.header.character_name') as imported_character
            from conversations v join characters c on c.id = v.character_id join users u on u.id = v.user_id
            left join personas p on p.id = v.persona_id
            where v.id = ?
            """,
            (conversation_id,),
        )
        if row is None:
            return None
        user = row["imported_user"] if isinstance(row["imported_user"], str) else row["user_name"]
        character = row["imported_character"] if isinstance(row["imported_character"], str) else row["character_name"]
        return str(user or "User"), str(character or "")

    # -- writing ---------------------------------------------------------------------------------

    async def add(self, documents: Sequence[NewDocument], vectors: Vectors) -> list[tuple[int, int]]:
        """Store documents with their keys and vectors in one transaction; returns (position in
        `documents`, new id) of each stored. A message that got its document meanwhile, or was deleted
        since it was read, is skipped."""

        def insert(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            ids = []
            for position, (document, vector) in enumerate(zip(documents, vectors, strict=True)):
                if (
                    document.message_id is not None
                    and conn.execute(
                        "select 1 from memory_documents where message_id = ?", (document.message_id,)
                    ).fetchone()
                ):
                    continue
                # A message deleted since it was read: its document would break the foreign key.
                if (
                    document.message_id is not None
                    and not conn.execute("select 1 from messages where id = ?", (document.message_id,)).fetchone()
                ):
                    continue
                cursor = conn.execute(
                    "insert into memory_documents (conversation_id, kind, message_id, memory_id, role,"
                    " parent_message_id, content, context, facts, importance, created_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        document.conversation_id,
                        document.kind,
                        document.message_id,
                        document.memory_id,
                        document.role,
                        document.parent_message_id,
                        document.content,
                        document.context,
                        document.facts,
                        document.importance,
                        document.created_at,
                    ),
                )
                document_id = int(cursor.lastrowid or 0)
                conn.execute(
                    "insert into memory_fts (rowid, scope, content, context, facts) values (?, ?, ?, ?, ?)",
                    (
                        document_id,
                        scope_token(document.conversation_id),
                        document.content,
                        document.context,
                        document.facts,
                    ),
                )
                conn.execute(
                    "insert into memory_vectors (document_id, conversation_id, embedding) values (?, ?, ?)",
                    (document_id, document.conversation_id, vector_blob(vector)),
                )
                ids.append((position, document_id))
            return ids

        return await self.db.write(insert)

    async def forget_messages(self, message_ids: Sequence[str]) -> int:
        """Drop the documents of these messages and of their replies (whose keys quote them), so they are
        indexed again from the current text."""
        if not message_ids:
            return 0

        def forget(conn: sqlite3.Connection) -> int:
            marks = ",".join("?" * len(message_ids))
            cursor = conn.execute(
                f"delete from memory_documents where message_id in ({marks}) or parent_message_id in ({marks})",
                (*message_ids, *message_ids),
            )
            return int(cursor.rowcount)

        return await self.db.write(forget)

    async def forget_memory(self, memory_id: str) -> None:
        await self.db.execute_write("delete from memory_documents where memory_id = ?", (memory_id,))

    async def augment(self, message_ids: Sequence[str], fact: str) -> None:
        """Add an extracted fact to the BM25 keys of the messages it came from (fact-augmented keys)."""
        if not message_ids:
            return

        def update(conn: sqlite3.Connection) -> None:
            marks = ",".join("?" * len(message_ids))
            rows = conn.execute(
                "select id, conversation_id, content, context, facts from memory_documents"
                f" where message_id in ({marks})",
                tuple(message_ids),
            ).fetchall()
            for row in rows:
                facts = f"{row['facts']}\n{fact}".strip()
                conn.execute("update memory_documents set facts = ? where id = ?", (facts, row["id"]))
                # A contentless FTS5 row is replaced whole: delete, then insert every column again.
                conn.execute("delete from memory_fts where rowid = ?", (row["id"],))
                conn.execute(
                    "insert into memory_fts (rowid, scope, content, context, facts) values (?, ?, ?, ?, ?)",
                    (row["id"], scope_token(row["conversation_id"]), row["content"], row["context"], facts),
                )

        await self.db.write(update)

    async def forget_conversation(self, conversation_id: str) -> None:
        await self.db.execute_write(
            "delete from memory_documents where conversation_id = ? and kind = 'message'", (conversation_id,)
        )

    # -- reading for search ----------------------------------------------------------------------

    async def bm25(self, conversation_id: str, match: str, limit: int) -> dict[int, float]:
        """Document id -> BM25 score (higher is better) for an FTS5 `match` expression."""
        rows = await self.db.fetchall(
            """
            select rowid, -bm25(memory_fts, 0.0, 1.0, 0.2, 0.6) as score from memory_fts
            where memory_fts match :match order by bm25(memory_fts, 0.0, 1.0, 0.2, 0.6) limit :limit
            """,
            {"match": f"scope:{scope_token(conversation_id)} AND ({match})", "limit": limit},
        )
        return {int(row["rowid"]): float(row["score"]) for row in rows}

    async def knn(self, conversation_id: str, vector: Any, k: int) -> dict[int, float]:
        """Document id -> cosine similarity of the `k` nearest (sqlite-vec, within the conversation)."""
        rows = await self.db.fetchall(
            "select document_id, distance from memory_vectors"
            " where embedding match ? and k = ? and conversation_id = ?",
            (vector_blob(vector), k, conversation_id),
        )
        # Unit vectors: L2 distance d gives cosine 1 - d²/2.
        return {int(row["document_id"]): 1.0 - float(row["distance"]) ** 2 / 2 for row in rows}

    async def vectors(self, conversation_id: str) -> tuple[np.ndarray, Vectors]:
        """Every document id and vector of a conversation (to search it in memory)."""

        def read(conn: sqlite3.Connection) -> tuple[np.ndarray, Vectors]:
            rows = conn.execute(
                "select document_id, embedding from memory_vectors where conversation_id = ?", (conversation_id,)
            ).fetchall()
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            if not rows:
                return ids, np.zeros((0, 0), dtype=np.float32)
            matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), -1)
            return ids, matrix

        return await self.db.read(read)

    async def documents(self, ids: Sequence[int]) -> dict[int, Document]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(
            "select d.id, d.conversation_id, d.kind, d.content, d.created_at, d.message_id, d.memory_id, d.role,"
            " d.parent_message_id, coalesce(m.importance, d.importance) as importance,"
            " coalesce(m.is_pinned, 0) as pinned, m.kind as memory_kind, m.source_message_ids"
            f" from memory_documents d left join conversation_memories m on m.id = d.memory_id where d.id in ({marks})",
            list(ids),
        )
        found = {}
        for row in rows:
            data = dict(row)
            data["source_message_ids"] = msgspec.json.decode(data["source_message_ids"] or "[]")
            found[int(row["id"])] = msgspec.convert(data, Document, strict=False)
        return found

    async def neighbours(self, documents: Sequence[Document]) -> dict[int, list[int]]:
        """Message document id -> ids of the documents of its parent and replies (neighbouring turns)."""
        messages = {d.message_id: d.id for d in documents if d.message_id}
        parents = {d.parent_message_id: d.id for d in documents if d.parent_message_id}
        if not messages:
            return {}
        found: dict[int, list[int]] = {}
        a, b = ",".join("?" * len(parents)) or "null", ",".join("?" * len(messages))
        rows = await self.db.fetchall(
            f"select id, message_id, parent_message_id from memory_documents where message_id in ({a})"
            f" or parent_message_id in ({b})",
            [*parents, *messages],
        )
        for row in rows:
            if row["message_id"] in parents:  # the parent of a candidate
                for document in documents:
                    if document.parent_message_id == row["message_id"]:
                        found.setdefault(document.id, []).append(int(row["id"]))
            if row["parent_message_id"] in messages:  # a reply to a candidate
                found.setdefault(messages[row["parent_message_id"]], []).append(int(row["id"]))
        return found
