"""AI orchestration's tables (migration set "orchestration"): generation usage and the model choices an
admin makes by command."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("orchestration")


@migrations()
def m001_usage(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- One row per generation attempt by one model: what it read and wrote, and what that cost in
        -- integer micro-units at the price configured then. `status`: ok (it served the reply), fallback
        -- (it failed and the next model of the route took over), failed (it failed and none did).
        create table ai_usage (
            id text primary key,
            user_id text references users(id) on delete cascade,
            conversation_id text references conversations(id) on delete set null,
            message_id text,
            model_id text not null,
            provider text not null,
            tokens_in integer not null default 0 check (tokens_in >= 0),
            tokens_out integer not null default 0 check (tokens_out >= 0),
            cost_micros integer not null default 0 check (cost_micros >= 0),
            status text not null check (status in ('ok', 'failed', 'fallback')),
            source text not null check (source in ('chat', 'api', 'generate', 'test')),
            error text,
            created_at text not null default {NOW}
        );
        create index idx_ai_usage_user on ai_usage(user_id, created_at);
        create index idx_ai_usage_model on ai_usage(model_id, created_at);
        create index idx_ai_usage_created on ai_usage(created_at);
        create index idx_ai_usage_message on ai_usage(message_id);

        -- Choices made with `bostonia models default` (they win over bostonia.toml's [llm] default_model).
        create table ai_settings (
            key text primary key,
            value text not null,
            updated_at text not null default {NOW}
        );
        """,
    )
