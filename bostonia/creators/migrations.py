"""The creators capability's schema (migration set "creators"): it owns the seed's `creator_profiles`,
`creator_earnings` and `payouts`, and adds premium unlocks and greeting A/B tests.

Earnings are money: integer cents, each row its gross, the platform's fee and the creator's net
(gross = fee + net). `creator_profiles.pending_payout_cents` is what a creator may still request:
the net of their earnings less every payout that has not failed.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("creators")


@migrations()
def m001_economy(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        alter table creator_profiles add column links text not null default '[]' check (json_valid(links));
        alter table creator_profiles add column pending_payout_cents integer not null default 0
            check (pending_payout_cents >= 0);
        alter table creator_profiles add column total_earned_cents integer not null default 0;

        -- The seed's earnings counted credits only; these count money (the seed table held nothing yet).
        drop table creator_earnings;
        create table creator_earnings (
            id text primary key,
            creator_id text not null references users(id) on delete cascade,
            character_id text references characters(id) on delete set null,
            conversation_id text references conversations(id) on delete set null,
            source text not null check (source in ('premium_unlock', 'premium_chat', 'tip', 'subscription_share',
                                                   'adjustment')),
            credits integer not null default 0,       -- what the payer spent, when paid in credits
            gross_cents integer not null check (gross_cents >= 0),
            fee_cents integer not null check (fee_cents >= 0),
            net_cents integer not null check (net_cents >= 0),
            reference text unique,                    -- the cause (an unlock, a tip, an invoice): applied once
            created_at text not null default {NOW},
            check (gross_cents = fee_cents + net_cents)
        );
        create index idx_creator_earnings_creator on creator_earnings(creator_id, created_at);
        create index idx_creator_earnings_character on creator_earnings(character_id, created_at);

        drop table payouts;
        create table payouts (
            id text primary key,
            creator_id text not null references users(id) on delete cascade,
            amount_cents integer not null check (amount_cents > 0),
            currency text not null default 'usd',
            status text not null default 'pending'
                check (status in ('pending', 'processing', 'completed', 'failed')),
            provider text,                            -- null: paid by hand by an admin
            provider_reference text unique,           -- the provider's transfer id (Stripe: stripe_transfer_id)
            failure_reason text,
            decided_by text references users(id) on delete set null,
            requested_at text not null default {NOW},
            updated_at text not null default {NOW},
            completed_at text
        );
        create index idx_payouts_creator on payouts(creator_id, requested_at);
        create index idx_payouts_status on payouts(status, requested_at);

        create table character_unlocks (
            user_id text not null references users(id) on delete cascade,
            character_id text not null references characters(id) on delete cascade,
            credits integer not null,
            created_at text not null default {NOW},
            primary key (user_id, character_id)
        );
        create index idx_character_unlocks_character on character_unlocks(character_id, created_at);

        -- Two greetings (indexes into the card's greetings) split across new conversations.
        create table greeting_experiments (
            id text primary key,
            character_id text not null references characters(id) on delete cascade,
            creator_id text not null references users(id) on delete cascade,
            greeting_a integer not null check (greeting_a >= 0),
            greeting_b integer not null check (greeting_b >= 0),
            status text not null default 'running' check (status in ('running', 'stopped')),
            created_at text not null default {NOW},
            stopped_at text,
            check (greeting_a != greeting_b)
        );
        create unique index idx_greeting_experiments_running on greeting_experiments(character_id)
            where status = 'running';
        create table greeting_assignments (
            conversation_id text primary key references conversations(id) on delete cascade,
            experiment_id text not null references greeting_experiments(id) on delete cascade,
            variant text not null check (variant in ('a', 'b')),
            created_at text not null default {NOW}
        );
        create index idx_greeting_assignments_experiment on greeting_assignments(experiment_id, variant);
        """,
    )
