"""The chat capability's own schema: tree navigation indexes and full-text search over messages."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import run_script

migrations = Migrations("chat")


@migrations()
def m001_tree_index_and_message_search(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        """
        -- Siblings (swipes) of a message, in creation order; roots have parent_id null.
        create index idx_messages_siblings on messages(conversation_id, parent_id, created_at);
        create index idx_conversations_branches on conversations(branched_from_id);

        create virtual table messages_fts using fts5(
            content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2',
            prefix='2 3'
        );
        insert into messages_fts(rowid, content) select rowid, content from messages;
        create trigger messages_fts_insert after insert on messages begin
            insert into messages_fts(rowid, content) values (new.rowid, new.content);
        end;
        create trigger messages_fts_delete after delete on messages begin
            insert into messages_fts(messages_fts, rowid, content) values ('delete', old.rowid, old.content);
        end;
        create trigger messages_fts_update after update of content on messages begin
            insert into messages_fts(messages_fts, rowid, content) values ('delete', old.rowid, old.content);
            insert into messages_fts(rowid, content) values (new.rowid, new.content);
        end;
        """,
    )


@migrations()
def m002_conversation_metadata(db: sqlite_utils.Database) -> None:
    # What an imported chat carried that Bostonia does not model (SillyTavern's chat_metadata, ...),
    # kept so that exporting it again loses nothing.
    db.execute("alter table conversations add column metadata text not null default '{}' check (json_valid(metadata))")
