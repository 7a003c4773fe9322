"""The analytics capability's schema (migration set "analytics"): events, their pseudonyms, daily counts.

Events carry no message content and no personal data: the account is a random pseudonym
(`analytics_actors`), which account deletion removes, leaving that account's events anonymous.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("analytics")


@migrations()
def m001_events(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        create table analytics_actors (
            user_id text primary key references users(id) on delete cascade,
            actor text not null unique,
            created_at text not null default {NOW}
        );
        create table analytics_events (
            id integer primary key,
            name text not null,
            actor text,                              -- a pseudonym (analytics_actors), never a user id
            character_id text,
            properties text not null default '{{}}' check (json_valid(properties)),
            created_at text not null
        );
        create index idx_analytics_events_name on analytics_events(name, created_at);
        create index idx_analytics_events_created on analytics_events(created_at);
        -- Counts per day, event and character (''), kept longer than the raw events.
        create table analytics_daily (
            day text not null,
            name text not null,
            character_id text not null default '',
            count integer not null default 0,
            primary key (day, name, character_id)
        );
        create index idx_analytics_daily_character on analytics_daily(character_id, day);
        """,
    )
