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


@migrations()
def m003_group_chats_and_rooms(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        """
        -- Who said a message: the character who spoke (assistant messages), the person who wrote it (user
        -- messages), and the name shown at the time (a persona's or a character's; kept if they go away).
        -- Out-of-character messages are shown to the room but never sent to the model.
        alter table messages add column character_id text references characters(id) on delete set null;
        alter table messages add column user_id text references users(id) on delete set null;
        alter table messages add column speaker_name text;
        alter table messages add column ooc integer not null default 0 check (ooc in (0, 1));
        update messages set character_id = (
            select c.character_id from conversations c where c.id = messages.conversation_id
        ) where role = 'assistant';
        update messages set user_id = (
            select c.user_id from conversations c where c.id = messages.conversation_id
        ) where role = 'user';
        -- For the foreign keys' `set null` when a character or an account is deleted.
        create index idx_messages_character on messages(character_id);
        create index idx_messages_user on messages(user_id);

        -- A group chat's settings (who speaks next, how cards are put into the prompt, auto-mode); the
        -- column stays null for a conversation with one character.
        alter table conversations add column group_settings text
            check (group_settings is null or json_valid(group_settings));

        -- The characters of a group chat, in list order. A one-character conversation has no rows (its
        -- character is conversations.character_id, which in a group is the first member).
        create table conversation_characters (
            conversation_id text not null references conversations(id) on delete cascade,
            character_id text not null references characters(id) on delete cascade,
            position integer not null,
            is_muted integer not null default 0 check (is_muted in (0, 1)),
            talkativeness real check (talkativeness is null or talkativeness between 0 and 1),  -- null: the card's
            added_at text not null,
            primary key (conversation_id, character_id)
        );
        create index idx_conversation_characters_character on conversation_characters(character_id);

        -- People in a room besides its owner (conversations.user_id), each with the persona they speak as.
        create table conversation_people (
            conversation_id text not null references conversations(id) on delete cascade,
            user_id text not null references users(id) on delete cascade,
            persona_id text references personas(id) on delete set null,
            joined_at text not null,
            primary key (conversation_id, user_id)
        );
        create index idx_conversation_people_user on conversation_people(user_id);

        -- Invitations into a room: a link (anyone holding the token) or one named account (invitee_id).
        -- Only a hash of the token is kept.
        create table conversation_invites (
            id text primary key,
            conversation_id text not null references conversations(id) on delete cascade,
            token_hash text not null unique,
            created_by text not null references users(id) on delete cascade,
            invitee_id text references users(id) on delete cascade,
            created_at text not null,
            expires_at text not null,
            revoked_at text,
            uses integer not null default 0
        );
        create index idx_conversation_invites_conversation on conversation_invites(conversation_id);
        create index idx_conversation_invites_invitee on conversation_invites(invitee_id);
        """,
    )


@migrations()
def m004_reply_checkpoints(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        """
        -- The text of a reply being generated, saved about once a second, so that a crash of the process
        -- (kill -9, out of memory) does not lose it: at the next start each row becomes a message marked
        -- interrupted (status 'partial'). Not a row of `messages` meanwhile: the tree, swipe counts, search,
        -- exports and memory never see half-written replies. A reply that finishes (or fails) removes its row.
        -- One write costs ~0.1 ms on the writer (`python -m benchmarks checkpoints`).
        create table reply_checkpoints (
            message_id text primary key,        -- the id the finished message gets (continue: the message's)
            conversation_id text not null references conversations(id) on delete cascade,
            parent_id text references messages(id) on delete cascade,
            mode text not null check (mode in ('reply', 'regenerate', 'continue')),
            prefix text not null default '',    -- continue: the text the message had before
            content text not null,              -- what this generation produced so far
            character_id text references characters(id) on delete set null,
            speaker_name text,
            model_used text,
            started_at text not null,
            saved_at text not null
        );
        create index idx_reply_checkpoints_conversation on reply_checkpoints(conversation_id);
        """,
    )
