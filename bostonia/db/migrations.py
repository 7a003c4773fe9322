"""Schema migrations: named functions, only ever appended. Applied at start-up and by `bostonia db migrate`.

One migration set per owner: this module owns the seed schema (set "bostonia"); a capability that needs
more (FTS indexes, new tables) declares its own `Migrations("<capability>")` in its `migrations.py`, and
plugins bring theirs. `app.MIGRATIONS` lists the sets in the order they apply.

The seed architecture's PostgreSQL schema, adapted to SQLite: UUID text ids, ISO-8601 UTC timestamps,
JSON as TEXT guarded by `json_valid`, booleans as 0/1 integers, enums as CHECK constraints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.connection import sqlite3

migrations = Migrations("bostonia")
MigrationSets = Sequence[Migrations]

NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2, the bundled embedding model

SEED_SCHEMA = f"""
create table users (
    id text primary key,
    email text not null unique collate nocase,
    password_hash text,                       -- null for accounts that only sign in through OAuth
    display_name text not null,
    avatar_path text,
    bio text not null default '',
    role text not null default 'user' check (role in ('user', 'creator', 'admin')),
    is_active integer not null default 1 check (is_active in (0, 1)),
    email_verified integer not null default 0 check (email_verified in (0, 1)),
    age_verified integer not null default 0 check (age_verified in (0, 1)),
    date_of_birth text,
    content_tier text not null default 'sfw' check (content_tier in ('sfw', 'mature', 'adult')),
    created_at text not null default {NOW},
    updated_at text not null default {NOW},
    last_login_at text
);

create table user_preferences (
    user_id text primary key references users(id) on delete cascade,
    theme text not null default 'system' check (theme in ('light', 'dark', 'system')),
    language text not null default 'en',
    notifications_enabled integer not null default 1 check (notifications_enabled in (0, 1)),
    memory_visible integer not null default 1 check (memory_visible in (0, 1)),
    typing_indicators integer not null default 1 check (typing_indicators in (0, 1)),
    default_persona_id text,
    extra text not null default '{{}}' check (json_valid(extra)),
    updated_at text not null default {NOW}
);

create table subscriptions (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    tier text not null default 'free' check (tier in ('free', 'plus', 'pro', 'creator')),
    status text not null default 'active'
        check (status in ('active', 'trialing', 'past_due', 'canceled', 'incomplete')),
    provider text,                            -- 'stripe', 'admin', ...
    provider_customer_id text,
    provider_subscription_id text unique,
    current_period_start text,
    current_period_end text,
    cancel_at_period_end integer not null default 0 check (cancel_at_period_end in (0, 1)),
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_subscriptions_user on subscriptions(user_id, status);

create table credit_balances (
    user_id text primary key references users(id) on delete cascade,
    balance integer not null default 0 check (balance >= 0),
    lifetime_purchased integer not null default 0,
    lifetime_spent integer not null default 0,
    updated_at text not null default {NOW}
);

create table credit_transactions (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    amount integer not null,                  -- positive: credit, negative: debit
    kind text not null check (kind in ('purchase', 'spend', 'grant', 'refund', 'adjustment')),
    reference text,
    details text not null default '{{}}' check (json_valid(details)),
    created_at text not null default {NOW}
);
create index idx_credit_transactions_user on credit_transactions(user_id, created_at);

create table characters (
    id text primary key,
    creator_id text references users(id) on delete set null,
    name text not null,
    tagline text not null default '',
    description text not null default '',
    personality text not null default '',
    scenario text not null default '',
    greeting text not null default '',        -- the card's first_mes
    example_dialogue text not null default '',-- the card's mes_example
    system_prompt text not null default '',
    post_history_instructions text not null default '',
    alternate_greetings text not null default '[]' check (json_valid(alternate_greetings)),
    creator_notes text not null default '',
    creator_name text not null default '',    -- the card's `creator` field (free text)
    character_version text not null default '',
    avatar_path text,
    visibility text not null default 'private' check (visibility in ('private', 'unlisted', 'public')),
    content_tier text not null default 'sfw' check (content_tier in ('sfw', 'mature', 'adult')),
    is_premium integer not null default 0 check (is_premium in (0, 1)),
    premium_credits integer not null default 0 check (premium_credits >= 0),
    settings text not null default '{{}}' check (json_valid(settings)),          -- sampler defaults
    extensions text not null default '{{}}' check (json_valid(extensions)),      -- card extensions, kept verbatim
    card_extra text not null default '{{}}' check (json_valid(card_extra)),      -- other card fields (V3, app keys)
    is_bundled integer not null default 0 check (is_bundled in (0, 1)),
    avg_rating real not null default 0,
    rating_count integer not null default 0,
    favorite_count integer not null default 0,
    total_conversations integer not null default 0,
    total_messages integer not null default 0,
    created_at text not null default {NOW},
    updated_at text not null default {NOW},
    deleted_at text
);
create index idx_characters_listing on characters(visibility, content_tier, created_at);
create index idx_characters_creator on characters(creator_id);
create index idx_characters_rating on characters(avg_rating);
create index idx_characters_popular on characters(total_conversations);

create table character_tags (
    character_id text not null references characters(id) on delete cascade,
    tag text not null collate nocase,
    primary key (character_id, tag)
);
create index idx_character_tags_tag on character_tags(tag);

create table character_ratings (
    id text primary key,
    character_id text not null references characters(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    rating integer not null check (rating between 1 and 5),
    review text,
    created_at text not null default {NOW},
    updated_at text not null default {NOW},
    unique (character_id, user_id)
);

create table personas (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    name text not null,
    description text not null default '',
    avatar_path text,
    is_default integer not null default 0 check (is_default in (0, 1)),
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_personas_user on personas(user_id);

create table conversations (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    character_id text not null references characters(id) on delete cascade,
    persona_id text references personas(id) on delete set null,
    title text not null default '',
    active_leaf_id text,                      -- last message of the path currently shown
    branched_from_id text references conversations(id) on delete set null,
    branched_from_message_id text,
    settings text not null default '{{}}' check (json_valid(settings)),          -- per-chat sampler overrides
    is_archived integer not null default 0 check (is_archived in (0, 1)),
    message_count integer not null default 0,
    last_message_at text,
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_conversations_user on conversations(user_id, updated_at);
create index idx_conversations_character on conversations(character_id);

create table messages (
    id text primary key,
    conversation_id text not null references conversations(id) on delete cascade,
    parent_id text references messages(id) on delete cascade,
    role text not null check (role in ('system', 'user', 'assistant')),
    content text not null,
    model_used text,
    tokens_used integer,
    is_regeneration integer not null default 0 check (is_regeneration in (0, 1)),
    -- 'partial': generation was cancelled or interrupted; the text so far is kept.
    status text not null default 'complete' check (status in ('complete', 'partial')),
    metadata text not null default '{{}}' check (json_valid(metadata)),
    created_at text not null default {NOW},
    edited_at text
);
create index idx_messages_conversation on messages(conversation_id, created_at);
create index idx_messages_parent on messages(parent_id);

create table conversation_memories (
    id text primary key,
    conversation_id text not null references conversations(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    character_id text references characters(id) on delete set null,
    kind text not null check (kind in ('fact', 'relationship', 'event', 'preference')),
    content text not null,
    importance real not null default 0.5 check (importance between 0 and 1),
    source_message_ids text not null default '[]' check (json_valid(source_message_ids)),
    is_pinned integer not null default 0 check (is_pinned in (0, 1)),
    access_count integer not null default 0,
    last_accessed_at text,
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_memories_conversation on conversation_memories(conversation_id, importance);
create index idx_memories_user on conversation_memories(user_id);

create virtual table memory_embeddings using vec0(
    memory_id text primary key,
    conversation_id text partition key,
    embedding float[{EMBEDDING_DIMENSIONS}]
);
create trigger memories_delete_embedding after delete on conversation_memories begin
    delete from memory_embeddings where memory_id = old.id;
end;

create table conversation_summaries (
    id text primary key,
    conversation_id text not null references conversations(id) on delete cascade,
    content text not null,
    covers_until_message_id text,
    message_count integer not null default 0,
    token_count integer not null default 0,
    created_at text not null default {NOW}
);
create index idx_summaries_conversation on conversation_summaries(conversation_id, created_at);

create table lorebooks (
    id text primary key,
    owner_id text references users(id) on delete cascade,
    character_id text references characters(id) on delete cascade,   -- set for a card's embedded book
    name text not null default '',
    description text not null default '',
    scan_depth integer,
    token_budget integer,
    recursive_scanning integer not null default 0 check (recursive_scanning in (0, 1)),
    extensions text not null default '{{}}' check (json_valid(extensions)),
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_lorebooks_owner on lorebooks(owner_id);
create index idx_lorebooks_character on lorebooks(character_id);

create table lorebook_entries (
    id text primary key,
    lorebook_id text not null references lorebooks(id) on delete cascade,
    uid text,                                 -- the id the entry had in its source file
    keys text not null default '[]' check (json_valid(keys)),
    secondary_keys text not null default '[]' check (json_valid(secondary_keys)),
    content text not null default '',
    name text not null default '',
    comment text not null default '',
    enabled integer not null default 1 check (enabled in (0, 1)),
    constant integer not null default 0 check (constant in (0, 1)),
    selective integer not null default 0 check (selective in (0, 1)),
    selective_logic integer not null default 0 check (selective_logic between 0 and 3),
    insertion_order integer not null default 100,
    priority integer,
    position text not null default 'before_char',
    depth integer,
    role text,
    case_sensitive integer check (case_sensitive in (0, 1)),
    match_whole_words integer check (match_whole_words in (0, 1)),
    use_regex integer not null default 0 check (use_regex in (0, 1)),
    probability integer not null default 100 check (probability between 0 and 100),
    display_index integer,
    extensions text not null default '{{}}' check (json_valid(extensions)),
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_lorebook_entries_book on lorebook_entries(lorebook_id, insertion_order);

create table creator_profiles (
    user_id text primary key references users(id) on delete cascade,
    display_name text not null default '',
    bio text not null default '',
    avatar_path text,
    website text,
    payout_email text,
    is_verified integer not null default 0 check (is_verified in (0, 1)),
    total_earnings_credits integer not null default 0,
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);

create table creator_earnings (
    id text primary key,
    creator_id text not null references users(id) on delete cascade,
    character_id text references characters(id) on delete set null,
    conversation_id text references conversations(id) on delete set null,
    source text not null check (source in ('premium_chat', 'tip', 'subscription_share', 'adjustment')),
    amount_credits integer not null,
    created_at text not null default {NOW}
);
create index idx_creator_earnings_creator on creator_earnings(creator_id, created_at);

create table payouts (
    id text primary key,
    creator_id text not null references users(id) on delete cascade,
    amount_cents integer not null check (amount_cents > 0),
    currency text not null default 'usd',
    status text not null default 'pending' check (status in ('pending', 'processing', 'paid', 'failed')),
    provider_reference text,
    requested_at text not null default {NOW},
    completed_at text
);
create index idx_payouts_creator on payouts(creator_id, requested_at);

create table user_favorites (
    user_id text not null references users(id) on delete cascade,
    character_id text not null references characters(id) on delete cascade,
    created_at text not null default {NOW},
    primary key (user_id, character_id)
);
create index idx_user_favorites_character on user_favorites(character_id);

create table collections (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    name text not null,
    description text not null default '',
    is_public integer not null default 0 check (is_public in (0, 1)),
    created_at text not null default {NOW},
    updated_at text not null default {NOW}
);
create index idx_collections_user on collections(user_id);

create table collection_characters (
    collection_id text not null references collections(id) on delete cascade,
    character_id text not null references characters(id) on delete cascade,
    position integer not null default 0,
    added_at text not null default {NOW},
    primary key (collection_id, character_id)
);

-- Browser sessions and API refresh tokens. Only a hash of each token is stored.
create table auth_sessions (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    kind text not null check (kind in ('browser', 'refresh')),
    token_hash text not null unique,
    family_id text not null,                  -- refresh rotation: reuse of an old token revokes the family
    expires_at text not null,
    revoked_at text,
    replaced_by text,
    user_agent text,
    ip text,
    created_at text not null default {NOW},
    last_used_at text
);
create index idx_auth_sessions_user on auth_sessions(user_id);
create index idx_auth_sessions_family on auth_sessions(family_id);

create table audit_log (
    id text primary key,
    actor_id text references users(id) on delete set null,
    action text not null,
    target_type text,
    target_id text,
    details text not null default '{{}}' check (json_valid(details)),
    created_at text not null default {NOW}
);
create index idx_audit_log_created on audit_log(created_at);
"""


def split_statements(script: str) -> Iterator[str]:
    """Split a SQL script into statements (triggers contain `;` inside BEGIN ... END)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement: {buffer.strip()[:80]}")


def run_script(db: sqlite_utils.Database, script: str) -> None:
    # Not `executescript`: it commits, and each migration must stay one transaction.
    for statement in split_statements(script):
        db.execute(statement)


@migrations()
def m001_seed_schema(db: sqlite_utils.Database) -> None:
    run_script(db, SEED_SCHEMA)


def pending(conn: sqlite3.Connection, sets: MigrationSets) -> list[str]:
    """Names (`set:migration`) not applied yet."""
    db = sqlite_utils.Database(conn)
    return [f"{s.name}:{m.name}" for s in sets for m in s.pending(db)]


def apply(conn: sqlite3.Connection, sets: MigrationSets) -> list[str]:
    """Apply every pending migration, set by set; returns the names applied."""
    db = sqlite_utils.Database(conn)
    names = pending(conn, sets)
    for migration_set in sets:
        migration_set.apply(db)
    return names
