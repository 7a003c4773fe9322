"""The billing capability's schema (migration set "billing"): it owns the seed's `subscriptions`,
`credit_balances` and `credit_transactions`, and adds payments, provider customers and webhook receipts.

`credit_transactions` is the ledger: append-only (triggers refuse updates, and deletes while the account
exists — an account's deletion takes its ledger with it), each row carrying the balance it left, and a
cause's reference unique per account and kind, so a replayed cause cannot credit twice.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from bostonia.db.migrations import NOW, run_script

migrations = Migrations("billing")


@migrations()
def m001_ledger_payments(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        f"""
        -- Credits received without paying (grants, monthly allowances, refunds of spends).
        alter table credit_balances add column lifetime_earned integer not null default 0;
        alter table credit_transactions add column balance_after integer not null default 0;
        create unique index idx_credit_transactions_cause on credit_transactions(user_id, kind, reference)
            where reference is not null;
        create trigger credit_transactions_no_update before update on credit_transactions begin
            select raise(abort, 'the credit ledger is append-only');
        end;
        create trigger credit_transactions_no_delete before delete on credit_transactions
            when exists (select 1 from users where id = old.user_id) begin
            select raise(abort, 'the credit ledger is append-only');
        end;

        -- Money received (or not) through a payment provider. Kept when the account is deleted (revenue
        -- history), without the account.
        create table payments (
            id text primary key,
            user_id text references users(id) on delete set null,
            provider text not null,
            provider_payment_id text not null,
            kind text not null check (kind in ('subscription', 'credits')),
            status text not null check (status in ('succeeded', 'failed', 'refunded')),
            amount_cents integer not null check (amount_cents >= 0),
            currency text not null,
            tier text,
            credits integer,
            description text not null default '',
            created_at text not null default {NOW},
            unique (provider, provider_payment_id, status)
        );
        create index idx_payments_user on payments(user_id, created_at);
        create index idx_payments_created on payments(created_at);

        create table payment_customers (
            user_id text not null references users(id) on delete cascade,
            provider text not null,
            customer_id text not null,
            created_at text not null default {NOW},
            primary key (user_id, provider),
            unique (provider, customer_id)
        );

        -- Webhook events already applied: a replayed event id changes nothing.
        create table payment_events (
            provider text not null,
            event_id text not null,
            type text not null,
            outcome text not null,
            received_at text not null default {NOW},
            primary key (provider, event_id)
        );
        create index idx_subscriptions_provider on subscriptions(provider, status);
        """,
    )
