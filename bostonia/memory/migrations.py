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


@migrations()
def m002_memories(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- 'extracted' by the model after a turn (grounded in its messages), or written by the 'user'.
        alter table conversation_memories add column origin text not null default 'extracted'
            check (origin in ('extracted', 'user'));
        -- Relationships name who the memory relates the user or character to ("Leah", "Biscuit").
        alter table conversation_memories add column subject text not null default '';

        -- Turns whose memories were extracted (keyed by the reply that ends the turn), so each is done once.
        create table memory_extractions (
            message_id text primary key references messages(id) on delete cascade,
            conversation_id text not null references conversations(id) on delete cascade,
            proposed integer not null default 0,     -- memories the model wrote
            kept integer not null default 0,         -- memories the messages support
            extracted_at text not null default {NOW}
        );
        create index idx_memory_extractions_conversation on memory_extractions(conversation_id);

        -- The messages a memory cites, as rows (source_message_ids keeps the list for the API): a deleted
        -- message takes the extracted memories resting on it along.
        create table memory_sources (
            memory_id text not null references conversation_memories(id) on delete cascade,
            message_id text not null references messages(id) on delete cascade,
            primary key (memory_id, message_id)
        );
        create index idx_memory_sources_message on memory_sources(message_id);
        create trigger memory_sources_orphan after delete on memory_sources
        when not exists (select 1 from memory_sources where memory_id = old.memory_id)
        begin
            delete from conversation_memories where id = old.memory_id and origin = 'extracted';
        end;
        """,
    )


@migrations()
def m003_summary_range(db: sqlite_utils.Database) -> None:
    # A summary covers the path from `covers_from` to `covers_until` (`message_count` messages); the digest
    # of those messages tells whether an edit, a delete or another branch made it stale.
    db.execute("alter table conversation_summaries add column covers_from_message_id text")
    db.execute("alter table conversation_summaries add column covered_digest text not null default ''")


@migrations()
def m004_knowledge_files(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- Text or Markdown files a user attaches to a character, a persona or a chat (SillyTavern's Data
        -- Bank), cut into chunks that recall searches with the conversation's own memories.
        create table knowledge_files (
            id text primary key,
            owner_id text not null references users(id) on delete cascade,
            scope text not null check (scope in ('character', 'persona', 'conversation')),
            character_id text references characters(id) on delete cascade,
            persona_id text references personas(id) on delete cascade,
            conversation_id text references conversations(id) on delete cascade,
            name text not null,
            size integer not null,
            created_at text not null default {NOW},
            check ((scope = 'character') = (character_id is not null)),
            check ((scope = 'persona') = (persona_id is not null)),
            check ((scope = 'conversation') = (conversation_id is not null))
        );
        create index idx_knowledge_files_owner on knowledge_files(owner_id, scope);
        create table knowledge_chunks (
            id integer primary key,
            file_id text not null references knowledge_files(id) on delete cascade,
            position integer not null,
            content text not null
        );
        create index idx_knowledge_chunks_file on knowledge_chunks(file_id, position);
        create virtual table knowledge_fts using fts5(
            scope, content, content='', contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2'
        );
        create virtual table knowledge_vectors using vec0(
            chunk_id integer primary key,
            file_id text partition key,
            embedding float[{EMBEDDING_DIMENSIONS}]
        );
        create trigger knowledge_chunks_forget after delete on knowledge_chunks begin
            delete from knowledge_fts where rowid = old.id;
            delete from knowledge_vectors where chunk_id = old.id;
        end;
        """,
    )
