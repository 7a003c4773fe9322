"""SQL of remembered things: `conversation_memories` (extracted or written by the user), the messages each
cites (`memory_sources`), and which turns were extracted (`memory_extractions`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow


class MemoryRecord(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    kind: str
    content: str
    importance: float
    source_message_ids: list[str]
    is_pinned: bool
    origin: str
    subject: str
    created_at: str
    updated_at: str


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """A reply and the user message it answers: what one extraction reads (greetings answer nothing the
    user said, and are not turns)."""

    reply_id: str
    reply: str
    prompt_id: str | None
    prompt: str
    created_at: str


def record_from_row(row: Any) -> MemoryRecord:
    data = dict(row)
    data["source_message_ids"] = from_json(data["source_message_ids"], [])
    return msgspec.convert(data, MemoryRecord, strict=False)


COLUMNS = (
    "id, conversation_id, kind, content, importance, source_message_ids, is_pinned, origin, subject,"
    " created_at, updated_at"
)


class MemoryRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_conversation(self, conversation_id: str, *, kind: str | None = None) -> list[MemoryRecord]:
        sql = f"select {COLUMNS} from conversation_memories where conversation_id = ?"
        params: list[Any] = [conversation_id]
        if kind is not None:
            sql += " and kind = ?"
            params.append(kind)
        rows = await self.db.fetchall(sql + " order by is_pinned desc, importance desc, created_at desc", params)
        return [record_from_row(row) for row in rows]

    async def owner(self, conversation_id: str) -> str | None:
        return await self.db.fetchval("select user_id from conversations where id = ?", (conversation_id,))

    async def get(self, memory_id: str) -> MemoryRecord | None:
        row = await self.db.fetchone(f"select {COLUMNS} from conversation_memories where id = ?", (memory_id,))
        return record_from_row(row) if row else None

    async def add(
        self,
        conversation_id: str,
        *,
        kind: str,
        content: str,
        importance: float,
        source_message_ids: Sequence[str],
        origin: str,
        pinned: bool = False,
        subject: str = "",
    ) -> MemoryRecord | None:
        """Store a memory; None if a source message is gone or the same memory exists already."""

        def insert(conn: sqlite3.Connection) -> MemoryRecord | None:
            if conn.execute(
                "select 1 from conversation_memories where conversation_id = ? and lower(content) = lower(?)",
                (conversation_id, content),
            ).fetchone():
                return None
            for message_id in source_message_ids:
                if not conn.execute("select 1 from messages where id = ?", (message_id,)).fetchone():
                    return None
            memory_id, now = new_id(), utcnow()
            conn.execute(
                "insert into conversation_memories (id, conversation_id, user_id, character_id, kind, content,"
                " importance, source_message_ids, is_pinned, origin, subject, created_at, updated_at)"
                " select ?, v.id, v.user_id, v.character_id, ?, ?, ?, ?, ?, ?, ?, ?, ? from conversations v"
                " where v.id = ?",
                (
                    memory_id,
                    kind,
                    content,
                    importance,
                    to_json(list(source_message_ids)),
                    int(pinned),
                    origin,
                    subject,
                    now,
                    now,
                    conversation_id,
                ),
            )
            conn.executemany(
                "insert or ignore into memory_sources (memory_id, message_id) values (?, ?)",
                [(memory_id, message_id) for message_id in source_message_ids],
            )
            row = conn.execute(f"select {COLUMNS} from conversation_memories where id = ?", (memory_id,)).fetchone()
            return record_from_row(row) if row else None

        return await self.db.write(insert)

    async def update(self, memory_id: str, fields: dict[str, Any]) -> MemoryRecord | None:
        if fields:
            assignments = ", ".join(f"{column} = :{column}" for column in fields)
            await self.db.execute_write(
                f"update conversation_memories set {assignments}, updated_at = :now where id = :id",
                {**fields, "now": utcnow(), "id": memory_id},
            )
        return await self.get(memory_id)

    async def delete(self, memory_id: str) -> None:
        await self.db.execute_write("delete from conversation_memories where id = ?", (memory_id,))

    async def forget_extracted_from(self, message_ids: Sequence[str]) -> int:
        """Messages edited since their turn was extracted: drop what was extracted from them and the mark
        of their turn, so it is extracted again from the new text. (A new message has nothing to drop.)"""
        if not message_ids:
            return 0
        marks = ",".join("?" * len(message_ids))

        def forget(conn: sqlite3.Connection) -> int:
            edited = [
                row[0]
                for row in conn.execute(
                    f"select id from messages where id in ({marks}) and edited_at is not null", tuple(message_ids)
                )
            ]
            gone = 0
            for message_id in edited:
                gone += conn.execute(
                    "delete from conversation_memories where origin = 'extracted' and created_at < ("
                    " select edited_at from messages where id = :id) and id in"
                    " (select memory_id from memory_sources where message_id = :id)",
                    {"id": message_id},
                ).rowcount
                conn.execute(
                    "delete from memory_extractions"
                    " where extracted_at < (select edited_at from messages where id = :id) and (message_id = :id or"
                    " message_id in (select id from messages where parent_id = :id))",
                    {"id": message_id},
                )
            return int(gone)

        return await self.db.write(forget)

    # -- turns to extract --------------------------------------------------------------------------

    async def unextracted_turns(self, conversation_id: str, *, limit: int, touching: Sequence[str] = ()) -> list[Turn]:
        """Replies (with the user message they answer) not extracted yet, newest first; with `touching`, only
        the turns these messages are part of (as the reply or as the message it answers)."""
        sql = """
            select r.id as reply_id, r.content as reply, p.id as prompt_id, p.content as prompt, r.created_at
            from messages r join messages p on p.id = r.parent_id and p.role = 'user'
            where r.conversation_id = :conversation_id and r.role = 'assistant' and r.status = 'complete'
              and not exists (select 1 from memory_extractions e where e.message_id = r.id)
        """
        params: dict[str, Any] = {"conversation_id": conversation_id, "limit": limit}
        if touching:
            marks = ",".join(f":t{i}" for i in range(len(touching)))
            sql += f" and (r.id in ({marks}) or r.parent_id in ({marks}))"
            params.update({f"t{i}": message_id for i, message_id in enumerate(touching)})
        rows = await self.db.fetchall(sql + " order by r.created_at desc limit :limit", params)
        return [msgspec.convert(row, Turn) for row in rows]

    async def count_unextracted(self, conversation_id: str) -> int:
        return int(
            await self.db.fetchval(
                "select count(*) from messages r join messages p on p.id = r.parent_id and p.role = 'user'"
                " where r.conversation_id = ? and r.role = 'assistant' and r.status = 'complete'"
                " and not exists (select 1 from memory_extractions e where e.message_id = r.id)",
                (conversation_id,),
            )
        )

    async def mark_extracted(self, conversation_id: str, reply_id: str, *, proposed: int, kept: int) -> None:
        await self.db.execute_write(
            "insert or replace into memory_extractions (message_id, conversation_id, proposed, kept)"
            " select ?, ?, ?, ? where exists (select 1 from messages where id = ?)",
            (reply_id, conversation_id, proposed, kept, reply_id),
        )
