"""Moderation's tables: the decision log, the report queue (user reports and automated flags), warnings."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("moderation")


@migrations()
def m001_moderation(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- Every decision to block, retract, replace or queue (and allowed texts that needed a higher tier).
        -- The text itself is kept (as `excerpt`) only for what was stopped, so an admin can judge it.
        create table moderation_decisions (
            id text primary key,
            direction text not null check (direction in ('input', 'output', 'text', 'image')),
            outcome text not null check (outcome in ('allowed', 'blocked', 'retracted', 'replaced', 'queued')),
            reason text not null,
            tier text check (tier in ('sfw', 'mature', 'adult')),
            categories text not null default '[]' check (json_valid(categories)),
            scores text not null default '{{}}' check (json_valid(scores)),
            user_id text references users(id) on delete set null,
            conversation_id text,
            character_id text,
            message_id text,
            excerpt text not null default '',
            created_at text not null default {NOW}
        );
        create index idx_moderation_decisions_created on moderation_decisions(created_at);

        -- The admin queue. `context` is a snapshot taken when the report is made (the reported message and
        -- the few before it, shared by the reporter; or the character's card; or the blocked text), so the
        -- admin sees what was reported even if it is later edited or deleted.
        create table moderation_reports (
            id text primary key,
            source text not null check (source in ('user', 'automated')),
            status text not null default 'open' check (status in ('open', 'dismissed', 'actioned')),
            target_type text not null check (target_type in ('message', 'character', 'image', 'text')),
            target_id text,
            conversation_id text,
            character_id text,
            subject_user_id text references users(id) on delete set null,
            reporter_id text references users(id) on delete set null,
            reason text not null,
            details text not null default '',
            categories text not null default '[]' check (json_valid(categories)),
            context text not null default '[]' check (json_valid(context)),
            resolution text,
            resolved_by text references users(id) on delete set null,
            resolved_at text,
            created_at text not null default {NOW}
        );
        create index idx_moderation_reports_queue on moderation_reports(status, created_at);
        create index idx_moderation_reports_target on moderation_reports(target_type, target_id, reporter_id);

        create table moderation_warnings (
            id text primary key,
            user_id text not null references users(id) on delete cascade,
            report_id text references moderation_reports(id) on delete set null,
            message text not null,
            created_by text references users(id) on delete set null,
            created_at text not null default {NOW}
        );
        create index idx_moderation_warnings_user on moderation_warnings(user_id, created_at);
        """,
    )
