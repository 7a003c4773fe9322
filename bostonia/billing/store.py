"""SQL for plans, credits and payments. The `*_in(conn, ...)` functions run inside a caller's transaction,
so a balance change and its cause (a sign-up, an unlock, a paid invoice) commit together or not at all."""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.billing.schemas import CreditBalance, LedgerEntry, Payment, Subscription
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.errors import InsufficientCredits
from bostonia.identity import Tier

# Plans that grant a tier: a past-due one keeps it until the provider gives up and cancels it.
GRANTING = "('active', 'trialing', 'past_due')"
TIER_RANK = "case s.tier when 'creator' then 3 when 'pro' then 2 when 'plus' then 1 else 0 end"


def effective_tier_sql(user_id_column: str) -> str:
    """A SQL expression for the tier in force: the best granting subscription, else free."""
    return (
        f"coalesce((select s.tier from subscriptions s where s.user_id = {user_id_column} and s.status in"
        f" {GRANTING} order by {TIER_RANK} desc, s.created_at desc, s.rowid desc limit 1), 'free')"
    )


SUBSCRIPTION_COLUMNS = (
    "id, user_id, tier, status, provider, provider_subscription_id, current_period_start, current_period_end,"
    " cancel_at_period_end, created_at, updated_at"
)
LEDGER_COLUMNS = "id, user_id, amount, kind, reference, details, balance_after, created_at"
PAYMENT_COLUMNS = (
    "id, provider, provider_payment_id, kind, status, amount_cents, currency, tier, credits, description, created_at"
)
# Which lifetime total a positive change adds to (negative changes are spending, whatever their kind).
LIFETIME_COLUMN = {"purchase": "lifetime_purchased", "grant": "lifetime_earned", "refund": "lifetime_earned"}


def _entry(row: Any) -> LedgerEntry:
    values = dict(row)
    values["details"] = from_json(values["details"], {})
    return msgspec.convert(values, LedgerEntry, strict=False)


# -- accounts ---------------------------------------------------------------------------------------


def open_account_in(conn: sqlite3.Connection, user_id: str) -> None:
    """What every new account starts with: a zero balance and the free plan."""
    conn.execute("insert into credit_balances (user_id) values (?)", (user_id,))
    conn.execute(
        "insert into subscriptions (id, user_id, tier, status, provider) values (?, ?, 'free', 'active', 'default')",
        (new_id(), user_id),
    )


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """A deleted account's plans and provider customer ids. Its balance and ledger go with the account
    row (the ledger refuses deletes while the account exists); its payments stay, without the account."""
    plans = conn.execute("delete from subscriptions where user_id = ?", (user_id,)).rowcount
    customers = conn.execute("delete from payment_customers where user_id = ?", (user_id,)).rowcount
    return {"subscriptions": plans, "payment_customers": customers}


# -- the ledger ---------------------------------------------------------------------------------------


def change_credits_in(
    conn: sqlite3.Connection,
    user_id: str,
    amount: int,
    kind: str,
    *,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
    clamp: bool = False,
) -> LedgerEntry | None:
    """Add (or, negative, take) credits with its ledger row. A cause already applied (same account, kind
    and reference) changes nothing and returns None. Taking more than the balance raises
    InsufficientCredits — or, with `clamp`, takes what is there (an after-the-fact charge)."""
    if amount == 0:
        return None
    if (
        reference is not None
        and conn.execute(
            "select 1 from credit_transactions where user_id = ? and kind = ? and reference = ?",
            (user_id, kind, reference),
        ).fetchone()
    ):
        return None
    details = dict(details or {})
    now = utcnow()
    if amount < 0:
        balance = conn.execute("select balance from credit_balances where user_id = ?", (user_id,)).fetchone()
        available = int(balance[0]) if balance else 0
        if available < -amount:
            if not clamp:
                raise InsufficientCredits(
                    f"this needs {-amount} credits; the balance is {available}",
                    details={"needed": -amount, "balance": available},
                )
            details["uncollected"] = -amount - available
            amount = -available
            if amount == 0:
                return None
        conn.execute(
            "update credit_balances set balance = balance + ?, lifetime_spent = lifetime_spent - ?, updated_at = ?"
            " where user_id = ?",
            (amount, amount, now, user_id),
        )
    else:
        lifetime = LIFETIME_COLUMN.get(kind)
        extra = f", {lifetime} = {lifetime} + :amount" if lifetime else ""
        conn.execute(
            f"update credit_balances set balance = balance + :amount{extra}, updated_at = :now where user_id = :user",
            {"amount": amount, "now": now, "user": user_id},
        )
    balance_after = int(conn.execute("select balance from credit_balances where user_id = ?", (user_id,)).fetchone()[0])
    entry_id = new_id()
    conn.execute(
        f"insert into credit_transactions ({LEDGER_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?)",
        (entry_id, user_id, amount, kind, reference, to_json(details), balance_after, now),
    )
    return LedgerEntry(
        id=entry_id,
        user_id=user_id,
        amount=amount,
        kind=kind,  # type: ignore[arg-type]
        reference=reference,
        details=details,
        balance_after=balance_after,
        created_at=now,
    )


def balance_in(conn: sqlite3.Connection, user_id: str) -> int:
    row = conn.execute("select balance from credit_balances where user_id = ?", (user_id,)).fetchone()
    return int(row[0]) if row else 0


# -- plans ----------------------------------------------------------------------------------------------


def grant_tier_in(conn: sqlite3.Connection, user_id: str, tier: str) -> None:
    """An admin-granted plan: it replaces earlier default and admin plans (a provider's stay)."""
    now = utcnow()
    conn.execute(
        "update subscriptions set status = 'canceled', updated_at = ? where user_id = ?"
        " and provider in ('default', 'admin') and status in ('active', 'trialing')",
        (now, user_id),
    )
    conn.execute(
        "insert into subscriptions (id, user_id, tier, status, provider, created_at, updated_at)"
        " values (?, ?, ?, 'active', 'admin', ?, ?)",
        (new_id(), user_id, tier, now, now),
    )


def tier_in(conn: sqlite3.Connection, user_id: str) -> Tier:
    return str(conn.execute(f"select {effective_tier_sql('?')}", (user_id,)).fetchone()[0])  # type: ignore[return-value]


def provider_subscription_in(conn: sqlite3.Connection, provider: str, subscription_id: str) -> Subscription | None:
    row = conn.execute(
        f"select {SUBSCRIPTION_COLUMNS} from subscriptions where provider = ? and provider_subscription_id = ?",
        (provider, subscription_id),
    ).fetchone()
    return msgspec.convert(dict(row), Subscription, strict=False) if row else None


def save_provider_subscription_in(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    provider: str,
    subscription_id: str,
    customer_id: str | None,
    tier: str,
    status: str,
    period_start: str | None,
    period_end: str | None,
    cancel_at_period_end: bool,
) -> None:
    now = utcnow()
    existing = provider_subscription_in(conn, provider, subscription_id)
    if existing is None:
        conn.execute(
            "insert into subscriptions (id, user_id, tier, status, provider, provider_customer_id,"
            " provider_subscription_id, current_period_start, current_period_end, cancel_at_period_end,"
            " created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                user_id,
                tier,
                status,
                provider,
                customer_id,
                subscription_id,
                period_start,
                period_end,
                int(cancel_at_period_end),
                now,
                now,
            ),
        )
        return
    conn.execute(
        "update subscriptions set tier = ?, status = ?, provider_customer_id = coalesce(?, provider_customer_id),"
        " current_period_start = coalesce(?, current_period_start), current_period_end = coalesce(?,"
        " current_period_end), cancel_at_period_end = ?, updated_at = ? where id = ?",
        (tier, status, customer_id, period_start, period_end, int(cancel_at_period_end), now, existing.id),
    )


def set_subscription_status_in(conn: sqlite3.Connection, subscription_row_id: str, status: str) -> None:
    conn.execute(
        "update subscriptions set status = ?, updated_at = ? where id = ?", (status, utcnow(), subscription_row_id)
    )


def mark_cancel_at_period_end_in(conn: sqlite3.Connection, subscription_row_id: str) -> None:
    conn.execute(
        "update subscriptions set cancel_at_period_end = 1, updated_at = ? where id = ?",
        (utcnow(), subscription_row_id),
    )


# -- payments, customers, webhook receipts ---------------------------------------------------------------


def record_payment_in(
    conn: sqlite3.Connection,
    *,
    user_id: str | None,
    provider: str,
    provider_payment_id: str,
    kind: str,
    status: str,
    amount_cents: int,
    currency: str,
    tier: str | None = None,
    credits: int | None = None,
    description: str = "",
) -> str | None:
    """The payment's id, or None when this provider payment was already recorded with this status."""
    payment_id = new_id()
    inserted = conn.execute(
        "insert or ignore into payments (id, user_id, provider, provider_payment_id, kind, status, amount_cents,"
        " currency, tier, credits, description, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            payment_id,
            user_id,
            provider,
            provider_payment_id,
            kind,
            status,
            amount_cents,
            currency,
            tier,
            credits,
            description,
            utcnow(),
        ),
    ).rowcount
    return payment_id if inserted else None


def save_customer_in(conn: sqlite3.Connection, user_id: str, provider: str, customer_id: str) -> None:
    conn.execute(
        "insert into payment_customers (user_id, provider, customer_id) values (?, ?, ?)"
        " on conflict (user_id, provider) do update set customer_id = excluded.customer_id",
        (user_id, provider, customer_id),
    )


def user_for_customer_in(conn: sqlite3.Connection, provider: str, customer_id: str) -> str | None:
    row = conn.execute(
        "select user_id from payment_customers where provider = ? and customer_id = ?", (provider, customer_id)
    ).fetchone()
    return str(row[0]) if row else None


def user_exists_in(conn: sqlite3.Connection, user_id: str) -> bool:
    return conn.execute("select 1 from users where id = ?", (user_id,)).fetchone() is not None


def claim_event_in(conn: sqlite3.Connection, provider: str, event_id: str, event_type: str) -> bool:
    """True the first time an event id is seen; False for a replay."""
    return (
        conn.execute(
            "insert or ignore into payment_events (provider, event_id, type, outcome) values (?, ?, ?, 'pending')",
            (provider, event_id, event_type),
        ).rowcount
        == 1
    )


def set_event_outcome_in(conn: sqlite3.Connection, provider: str, event_id: str, outcome: str) -> None:
    conn.execute(
        "update payment_events set outcome = ? where provider = ? and event_id = ?", (outcome, provider, event_id)
    )


class BillingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def balance(self, user_id: str) -> CreditBalance:
        row = await self.db.fetchone(
            "select balance, lifetime_purchased, lifetime_earned, lifetime_spent, updated_at from credit_balances"
            " where user_id = ?",
            (user_id,),
        )
        if row is None:  # an account made before billing existed
            return CreditBalance(balance=0, lifetime_purchased=0, lifetime_earned=0, lifetime_spent=0, updated_at="")
        return msgspec.convert(row, CreditBalance)

    async def ledger(self, user_id: str, *, limit: int | None = None) -> list[LedgerEntry]:
        sql = f"select {LEDGER_COLUMNS} from credit_transactions where user_id = ? order by created_at desc, rowid desc"
        rows = await self.db.fetchall(sql + (" limit ?" if limit else ""), (user_id, limit) if limit else (user_id,))
        return [_entry(row) for row in rows]

    async def ledger_total(self, user_id: str) -> int:
        return int(
            await self.db.fetchval(
                "select coalesce(sum(amount), 0) from credit_transactions where user_id = ?", (user_id,)
            )
        )

    async def granting_subscription(self, user_id: str) -> Subscription | None:
        row = await self.db.fetchone(
            f"select {SUBSCRIPTION_COLUMNS} from subscriptions s where s.user_id = ? and s.status in {GRANTING}"
            f" order by {TIER_RANK} desc, s.created_at desc, s.rowid desc limit 1",
            (user_id,),
        )
        return msgspec.convert(row, Subscription, strict=False) if row else None

    async def provider_subscriptions(self, user_id: str, provider: str) -> list[Subscription]:
        rows = await self.db.fetchall(
            f"select {SUBSCRIPTION_COLUMNS} from subscriptions where user_id = ? and provider = ?"
            f" and status in {GRANTING} order by created_at desc",
            (user_id, provider),
        )
        return [msgspec.convert(row, Subscription, strict=False) for row in rows]

    async def customer_id(self, user_id: str, provider: str) -> str | None:
        return await self.db.fetchval(
            "select customer_id from payment_customers where user_id = ? and provider = ?", (user_id, provider)
        )

    async def payments(self, user_id: str) -> list[Payment]:
        rows = await self.db.fetchall(
            f"select {PAYMENT_COLUMNS} from payments where user_id = ? order by created_at desc, rowid desc", (user_id,)
        )
        return [msgspec.convert(row, Payment) for row in rows]

    async def unmetered_plans(self) -> list[tuple[str, str]]:
        """(user id, tier) of each account whose plan in force is not a provider's (provider plans get
        their monthly credits with each paid invoice)."""
        rows = await self.db.fetchall(
            f"""select user_id, tier, provider from (
                    select s.user_id, s.tier, s.provider, row_number() over (
                        partition by s.user_id order by {TIER_RANK} desc, s.created_at desc, s.rowid desc) as n
                    from subscriptions s where s.status in {GRANTING})
                where n = 1 and provider in ('default', 'admin')"""
        )
        return [(row["user_id"], row["tier"]) for row in rows]

    # -- figures for the admin dashboard --------------------------------------------------------------

    async def active_paid_subscriptions(self) -> dict[str, int]:
        rows = await self.db.fetchall(
            f"select tier, count(*) as n from subscriptions where status in {GRANTING} and tier != 'free' group by tier"
        )
        return {row["tier"]: int(row["n"]) for row in rows}

    async def revenue_per_day(self, since: str) -> dict[str, int]:
        rows = await self.db.fetchall(
            "select substr(created_at, 1, 10) as day, sum(amount_cents) as cents from payments"
            " where status = 'succeeded' and created_at >= ? group by day",
            (since,),
        )
        return {row["day"]: int(row["cents"]) for row in rows}

    async def generation_spending(self, since: str) -> tuple[int, int]:
        """(credits charged, AI cost in micro-units) for generations since `since`."""
        row = await self.db.fetchone(
            "select coalesce(-sum(amount), 0) as credits,"
            " coalesce(sum(json_extract(details, '$.cost_micros')), 0) as cost from credit_transactions"
            " where kind = 'spend' and reference like 'generation:%' and created_at >= ?",
            (since,),
        )
        return (int(row["credits"]), int(row["cost"])) if row else (0, 0)

    async def credits_spent(self, since: str) -> int:
        return int(
            await self.db.fetchval(
                "select coalesce(-sum(amount), 0) from credit_transactions where amount < 0 and created_at >= ?",
                (since,),
            )
        )
