"""SQL for conversations and their message tree (each message points at its parent)."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.chat.schemas import Conversation, Message
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow

CONVERSATION_SELECT = """
    select v.*, c.name as character_name from conversations v join characters c on c.id = v.character_id
"""
# The active path: walk from the conversation's active leaf up through the parents.
ACTIVE_PATH = """
    with recursive path(id, depth) as (
        select active_leaf_id, 0 from conversations where id = :conversation_id
        union all
        select m.parent_id, path.depth + 1 from messages m join path on m.id = path.id
        where m.parent_id is not null
    )
    select m.* from path join messages m on m.id = path.id order by path.depth desc
"""
TITLE_LENGTH = 60


def conversation_from_row(row: Any) -> Conversation:
    return msgspec.convert(dict(row), Conversation, strict=False)


def message_from_row(row: Any) -> Message:
    return msgspec.convert(dict(row), Message, strict=False)


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, user_id: str, character_id: str, greeting: str) -> Conversation:
        """A new conversation; a non-empty greeting becomes its first (assistant) message."""

        def insert(conn: sqlite3.Connection) -> Conversation:
            conversation_id, now = new_id(), utcnow()
            conn.execute(
                "insert into conversations (id, user_id, character_id, created_at, updated_at) values (?, ?, ?, ?, ?)",
                (conversation_id, user_id, character_id, now, now),
            )
            if greeting.strip():
                _insert_message(
                    conn, conversation_id=conversation_id, parent_id=None, role="assistant", content=greeting, now=now
                )
            conn.execute(
                "update characters set total_conversations = total_conversations + 1 where id = ?",
                (character_id,),
            )
            row = conn.execute(CONVERSATION_SELECT + " where v.id = ?", (conversation_id,)).fetchone()
            return conversation_from_row(row)

        return await self.db.write(insert)

    async def get(self, conversation_id: str) -> Conversation | None:
        row = await self.db.fetchone(CONVERSATION_SELECT + " where v.id = ?", (conversation_id,))
        return conversation_from_row(row) if row else None

    async def list_for_user(self, user_id: str, *, character_id: str | None = None) -> list[Conversation]:
        sql = CONVERSATION_SELECT + " where v.user_id = ?"
        params: list[Any] = [user_id]
        if character_id:
            sql += " and v.character_id = ?"
            params.append(character_id)
        rows = await self.db.fetchall(sql + " order by v.updated_at desc", params)
        return [conversation_from_row(row) for row in rows]

    async def delete(self, conversation_id: str) -> None:
        await self.db.execute_write("delete from conversations where id = ?", (conversation_id,))

    async def active_path(self, conversation_id: str) -> list[Message]:
        rows = await self.db.fetchall(ACTIVE_PATH, {"conversation_id": conversation_id})
        return [message_from_row(row) for row in rows]

    async def get_message(self, message_id: str) -> Message | None:
        row = await self.db.fetchone("select * from messages where id = ?", (message_id,))
        return message_from_row(row) if row else None

    async def append(
        self,
        *,
        conversation_id: str,
        parent_id: str | None,
        role: str,
        content: str,
        message_id: str | None = None,
        model_used: str | None = None,
        tokens_used: int | None = None,
        status: str = "complete",
    ) -> Message:
        """Add a message under `parent_id` and make it the conversation's active leaf."""

        def insert(conn: sqlite3.Connection) -> Message:
            now = utcnow()
            message = _insert_message(
                conn,
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=role,
                content=content,
                now=now,
                message_id=message_id,
                model_used=model_used,
                tokens_used=tokens_used,
                status=status,
            )
            if role == "user":  # the first thing the user says names the conversation
                conn.execute(
                    "update conversations set title = ? where id = ? and title = ''",
                    (title_from(content), conversation_id),
                )
            conn.execute(
                "update characters set total_messages = total_messages + 1"
                " where id = (select character_id from conversations where id = ?)",
                (conversation_id,),
            )
            return message

        return await self.db.write(insert)


def _insert_message(
    conn: sqlite3.Connection,
    *,
    conversation_id: str,
    parent_id: str | None,
    role: str,
    content: str,
    now: str,
    message_id: str | None = None,
    model_used: str | None = None,
    tokens_used: int | None = None,
    status: str = "complete",
) -> Message:
    message_id = message_id or new_id()
    conn.execute(
        "insert into messages (id, conversation_id, parent_id, role, content, model_used, tokens_used, status,"
        " created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (message_id, conversation_id, parent_id, role, content, model_used, tokens_used, status, now),
    )
    conn.execute(
        "update conversations set active_leaf_id = ?, message_count = message_count + 1, last_message_at = ?,"
        " updated_at = ? where id = ?",
        (message_id, now, now, conversation_id),
    )
    return message_from_row(conn.execute("select * from messages where id = ?", (message_id,)).fetchone())
