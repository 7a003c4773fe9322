"""The memory capability's schema: one recall index over messages, extracted memories and knowledge chunks.

Every indexed thing is a row of `memory_documents` (its rowid keys the other two tables):
- `memory_fts`: BM25 keys — the text itself, its neighbouring turns, the facts extracted from it — in a
  contentless FTS5 table with the Porter stemmer (recall wants "adopted" to find "adopt"). The
  conversation id is a token of the `scope` column, so a query intersects the conversation's posting
  list instead of filtering every match afterwards.
- `memory_vectors`: its embedding, in a vec0 table partitioned by conversation.
Documents reference their source row with `on delete cascade`, so deleting a message (or a whole
conversation) drops its documents, and a trigger drops their keys and vectors: the index never points
at something that is gone, without chat knowing memory exists.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import EMBEDDING_DIMENSIONS, NOW, run_script

migrations = Migrations("memory")


@migrations()
def m001_recall_index(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- The seed's per-memory vector table is replaced by the recall index's (one vector per document).
        drop trigger if exists memories_delete_embedding;
        drop table if exists memory_embeddings;

        create table memory_documents (
            id integer primary key,
            conversation_id text not null references conversations(id) on delete cascade,
            kind text not null check (kind in ('message', 'memory', 'knowledge')),
            message_id text references messages(id) on delete cascade,
            memory_id text references conversation_memories(id) on delete cascade,
            role text,                                   -- a message's role; null for the others
            parent_message_id text,                      -- a message's parent: its neighbouring turn
            content text not null,                       -- what a search returns
            context text not null default '',            -- BM25 keys beside it: speaker, previous turn
            facts text not null default '',              -- BM25 keys: facts extracted from it
            importance real not null default 0.5,
            created_at text not null,                    -- when it was said (session time)
            indexed_at text not null default {NOW}
        );
        create unique index idx_memory_documents_message on memory_documents(message_id) where message_id is not null;
        create unique index idx_memory_documents_memory on memory_documents(memory_id) where memory_id is not null;
        create index idx_memory_documents_conversation on memory_documents(conversation_id, created_at);
        create index idx_memory_documents_parent on memory_documents(parent_message_id);

        create virtual table memory_fts using fts5(
            scope, content, context, facts,
            content='', contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2'
        );
        create virtual table memory_vectors using vec0(
            document_id integer primary key,
            conversation_id text partition key,
            embedding float[{EMBEDDING_DIMENSIONS}]
        );
        create trigger memory_documents_forget after delete on memory_documents begin
            delete from memory_fts where rowid = old.id;
            delete from memory_vectors where document_id = old.id;
        end;
        """,
    )
