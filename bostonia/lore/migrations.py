"""Schema additions for lorebooks: what the seed tables cannot hold losslessly."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import run_script

migrations = Migrations("lore")


@migrations()
def m001_lossless_entries(db: sqlite_utils.Database) -> None:
    # `extra`: keys of the source book/entry we do not model, written back on export.
    # `seq`: the entry's place in its source file, so exports keep the original order.
    run_script(
        db,
        """
        alter table lorebooks add column extra text not null default '{}' check (json_valid(extra));
        alter table lorebook_entries add column extra text not null default '{}' check (json_valid(extra));
        alter table lorebook_entries add column seq integer not null default 0;
        create index idx_lorebook_entries_seq on lorebook_entries(lorebook_id, seq);
        """,
    )


@migrations()
def m002_world_info(db: sqlite_utils.Database) -> None:
    # Which books apply to a chat besides the character's own: one row per link, exactly one target.
    # `user_id` = a global book of that user (every chat of theirs); `persona_id` = chats played as that
    # persona; `conversation_id` = that chat only. Deleting the target or the book removes the link.
    #
    # `lore_settings`: a user's World Info activation settings (scan depth, budget, recursion, ...), JSON.
    #
    # `lore_entry_state`: what World Info remembers about a chat between turns, per entry: timed effects
    # (`sticky`, `cooldown`) and `matched` (for the V3 `@@keep/dont_activate_after_match` decorators).
    # `start`/`end` count messages of the chat path, as SillyTavern's `chat_metadata.timedWorldInfo` does.
    run_script(
        db,
        """
        create table lorebook_links (
            lorebook_id text not null references lorebooks(id) on delete cascade,
            user_id text references users(id) on delete cascade,
            persona_id text references personas(id) on delete cascade,
            conversation_id text references conversations(id) on delete cascade,
            created_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            check ((user_id is not null) + (persona_id is not null) + (conversation_id is not null) = 1)
        );
        create unique index idx_lorebook_links_unique on lorebook_links(
            lorebook_id, coalesce(user_id, ''), coalesce(persona_id, ''), coalesce(conversation_id, ''));
        create index idx_lorebook_links_user on lorebook_links(user_id) where user_id is not null;
        create index idx_lorebook_links_persona on lorebook_links(persona_id) where persona_id is not null;
        create index idx_lorebook_links_conversation on lorebook_links(conversation_id)
            where conversation_id is not null;

        create table lore_settings (
            user_id text primary key references users(id) on delete cascade,
            settings text not null default '{}' check (json_valid(settings)),
            updated_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );

        create table lore_entry_state (
            conversation_id text not null references conversations(id) on delete cascade,
            entry_id text not null references lorebook_entries(id) on delete cascade,
            kind text not null check (kind in ('sticky', 'cooldown', 'matched')),
            start integer not null,
            "end" integer not null,
            protected integer not null default 0 check (protected in (0, 1)),
            primary key (conversation_id, entry_id, kind)
        ) without rowid;
        """,
    )
