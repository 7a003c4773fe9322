"""SQL for reply checkpoints: the text of a reply being generated, saved now and then (`streams.py` decides
when), and turned into a message marked interrupted when the server starts after a crash.

The rows live in `reply_checkpoints`, not `messages`: while a reply streams, nothing that reads the tree
(the active path, swipe counts, search, exports, memory) sees it half-written. A recovered reply is
written the way a stopped one is (status `partial`), with `metadata.interrupted`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.chat.events import ReplyMode
from bostonia.chat.schemas import Speaker
from bostonia.chat.store import _insert_message, _set_leaf
from bostonia.db import Database, sqlite3
from bostonia.db.values import to_json, utcnow


class Checkpoint(msgspec.Struct, kw_only=True):
    message_id: str
    conversation_id: str
    parent_id: str | None
    mode: ReplyMode
    prefix: str  # continue: the text the message had before this generation
    content: str  # what this generation produced so far
    character_id: str | None = None
    speaker_name: str | None = None
    model_used: str | None = None
    started_at: str


class Recovered(msgspec.Struct, kw_only=True):
    """A reply that was being generated when the server stopped without finishing it."""

    message_id: str
    conversation_id: str
    chars: int  # how much of this generation's text was kept


class CheckpointStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, checkpoint: Checkpoint) -> None:
        """Write (or overwrite) a reply's checkpoint. A conversation deleted meanwhile gets none."""
        row = msgspec.structs.asdict(checkpoint)

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "insert into reply_checkpoints (message_id, conversation_id, parent_id, mode, prefix, content,"
                " character_id, speaker_name, model_used, started_at, saved_at)"
                " select :message_id, :conversation_id, :parent_id, :mode, :prefix, :content, :character_id,"
                " :speaker_name, :model_used, :started_at, :saved_at"
                " where exists (select 1 from conversations where id = :conversation_id)"
                " on conflict (message_id) do update set content = excluded.content, saved_at = excluded.saved_at,"
                " model_used = coalesce(excluded.model_used, model_used)",
                {**row, "saved_at": utcnow()},
            )

        await self.db.write(upsert)

    async def discard(self, message_id: str) -> None:
        await self.db.execute_write("delete from reply_checkpoints where message_id = ?", (message_id,))

    async def count(self) -> int:
        return int(await self.db.fetchval("select count(*) from reply_checkpoints") or 0)

    async def recover(self) -> list[Recovered]:
        """Turn every checkpoint into the message it was becoming, marked interrupted, in one transaction.
        Call at start-up only (before any reply starts): every checkpoint then belongs to a dead process."""
        return await self.db.write(recover_in)


def recover_in(conn: sqlite3.Connection) -> list[Recovered]:
    recovered: list[Recovered] = []
    for row in conn.execute("select * from reply_checkpoints order by started_at").fetchall():
        checkpoint = msgspec.convert(dict(row), Checkpoint, strict=False)
        kept = _recover_one(conn, checkpoint, saved_at=row["saved_at"])
        if kept:
            recovered.append(
                Recovered(message_id=checkpoint.message_id, conversation_id=checkpoint.conversation_id, chars=kept)
            )
    conn.execute("delete from reply_checkpoints")
    return recovered


def _recover_one(conn: sqlite3.Connection, checkpoint: Checkpoint, *, saved_at: str) -> int:
    """Store one checkpoint as its message; the number of characters kept (0: nothing to keep)."""
    text = checkpoint.content.strip() if checkpoint.mode != "continue" else checkpoint.content.rstrip()
    if not text:
        return 0
    metadata: dict[str, Any] = {"interrupted": True, "checkpointed_at": saved_at}
    existing = conn.execute("select content from messages where id = ?", (checkpoint.message_id,)).fetchone()
    if checkpoint.mode == "continue":
        # The continuation never got stored if the message still ends where it did (the finished write and the
        # checkpoint's removal are two steps: a crash between them leaves a checkpoint of a stored reply).
        if existing is None or existing["content"] != checkpoint.prefix:
            return 0
        conn.execute(
            "update messages set content = ?, status = 'partial', model_used = coalesce(?, model_used),"
            " metadata = json_patch(metadata, ?) where id = ?",
            (checkpoint.prefix + text, checkpoint.model_used, to_json(metadata), checkpoint.message_id),
        )
        conn.execute("update conversations set updated_at = ? where id = ?", (utcnow(), checkpoint.conversation_id))
        return len(text)
    if existing is not None:  # the finished reply was stored: the checkpoint is stale
        return 0
    parent = checkpoint.parent_id
    if parent is not None and conn.execute("select 1 from messages where id = ?", (parent,)).fetchone() is None:
        return 0  # what it answered is gone
    if checkpoint.mode == "reply" and _takes_turns(conn, checkpoint.conversation_id):
        # As a finished turn of a group or room would be: after whatever was said meanwhile.
        leaf = conn.execute(
            "select active_leaf_id from conversations where id = ?", (checkpoint.conversation_id,)
        ).fetchone()
        parent = (leaf[0] if leaf else None) or parent
    message_id = _insert_message(
        conn,
        conversation_id=checkpoint.conversation_id,
        parent_id=parent,
        role="assistant",
        content=text,
        now=checkpoint.started_at,
        message_id=checkpoint.message_id,
        model_used=checkpoint.model_used,
        status="partial",
        is_regeneration=checkpoint.mode == "regenerate",
        metadata=metadata,
        speaker=Speaker(character_id=checkpoint.character_id, name=checkpoint.speaker_name),
    )
    _set_leaf(conn, checkpoint.conversation_id, message_id)
    return len(text)


def _takes_turns(conn: sqlite3.Connection, conversation_id: str) -> bool:
    row = conn.execute(
        "select group_settings is not null"
        " or exists (select 1 from conversation_people p where p.conversation_id = c.id) from conversations c"
        " where c.id = ?",
        (conversation_id,),
    ).fetchone()
    return bool(row and row[0])
