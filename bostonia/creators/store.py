"""SQL for creators: profiles, earnings, payouts and unlocks. `*_in(conn, ...)` functions join the caller's
transaction, so an unlock's charge, its earning and the unlock itself commit together."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from bostonia.creators.schemas import AdminPayout, CreatorProfile, Earning, EarningsTotals, Payout, PublicCreator
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.errors import Conflict, InvalidInput, NotFound

PROFILE_COLUMNS = (
    "p.user_id, coalesce(nullif(p.display_name, ''), u.display_name) as display_name, p.bio, p.website, p.links,"
    " p.payout_email, p.is_verified,"
    " p.pending_payout_cents, p.total_earned_cents, p.created_at, p.updated_at"
)
PAYOUT_COLUMNS = (
    "o.id, o.creator_id, o.amount_cents, o.currency, o.status, o.provider, o.provider_reference, o.failure_reason,"
    " o.requested_at, o.updated_at, o.completed_at"
)
EDITABLE = ("display_name", "bio", "website", "links", "payout_email")


def split(gross_cents: int, rate: Decimal) -> tuple[int, int]:
    """(platform fee, creator net) of a gross amount: the net rounded half up, the fee the rest."""
    net = int((Decimal(gross_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    net = max(0, min(net, gross_cents))
    return gross_cents - net, net


def ensure_profile_in(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("insert or ignore into creator_profiles (user_id) values (?)", (user_id,))


def add_earning_in(
    conn: sqlite3.Connection,
    *,
    creator_id: str,
    source: str,
    gross_cents: int,
    rate: Decimal,
    reference: str,
    character_id: str | None = None,
    conversation_id: str | None = None,
    credits: int = 0,
) -> bool:
    """Credit a creator's share of `gross_cents`; False if this cause was already credited."""
    if gross_cents <= 0:
        return False
    fee, net = split(gross_cents, rate)
    ensure_profile_in(conn, creator_id)
    inserted = conn.execute(
        "insert or ignore into creator_earnings (id, creator_id, character_id, conversation_id, source, credits,"
        " gross_cents, fee_cents, net_cents, reference, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new_id(),
            creator_id,
            character_id,
            conversation_id,
            source,
            credits,
            gross_cents,
            fee,
            net,
            reference,
            utcnow(),
        ),
    ).rowcount
    if inserted:
        conn.execute(
            "update creator_profiles set pending_payout_cents = pending_payout_cents + ?,"
            " total_earned_cents = total_earned_cents + ?, total_earnings_credits = total_earnings_credits + ?,"
            " updated_at = ? where user_id = ?",
            (net, net, credits, utcnow(), creator_id),
        )
    return bool(inserted)


def record_unlock_in(conn: sqlite3.Connection, user_id: str, character_id: str, credits: int) -> str:
    now = utcnow()
    try:
        conn.execute(
            "insert into character_unlocks (user_id, character_id, credits, created_at) values (?, ?, ?, ?)",
            (user_id, character_id, credits, now),
        )
    except sqlite3.IntegrityError:
        raise Conflict("you have unlocked this character already", code="already_unlocked") from None
    return now


def subscriber_usage_in(conn: sqlite3.Connection, user_id: str, since: str) -> tuple[int, dict[str, int]]:
    """(all messages the subscriber sent since `since`, those sent to each other creator's characters)."""
    rows = conn.execute(
        "select c.creator_id, count(*) from messages m join conversations v on v.id = m.conversation_id"
        " join characters c on c.id = v.character_id where v.user_id = ? and m.role = 'user' and m.created_at >= ?"
        " group by c.creator_id",
        (user_id, since),
    ).fetchall()
    total = sum(int(n) for _, n in rows)
    return total, {str(creator): int(n) for creator, n in rows if creator and creator != user_id}


def request_payout_in(conn: sqlite3.Connection, creator_id: str, amount_cents: int | None, currency: str) -> str:
    row = conn.execute("select pending_payout_cents from creator_profiles where user_id = ?", (creator_id,)).fetchone()
    pending = int(row[0]) if row else 0
    amount = pending if amount_cents is None else amount_cents
    if amount <= 0 or amount > pending:
        raise InvalidInput(
            f"you can request up to {pending} cents", code="payout_exceeds_pending", details={"pending_cents": pending}
        )
    payout_id, now = new_id(), utcnow()
    conn.execute(
        "update creator_profiles set pending_payout_cents = pending_payout_cents - ?, updated_at = ? where user_id = ?",
        (amount, now, creator_id),
    )
    conn.execute(
        "insert into payouts (id, creator_id, amount_cents, currency, status, requested_at, updated_at)"
        " values (?, ?, ?, ?, 'pending', ?, ?)",
        (payout_id, creator_id, amount, currency, now, now),
    )
    return payout_id


def payout_in(conn: sqlite3.Connection, payout_id: str) -> Payout | None:
    conn_row = conn.execute(f"select {PAYOUT_COLUMNS} from payouts o where o.id = ?", (payout_id,)).fetchone()
    return msgspec.convert(dict(conn_row), Payout) if conn_row else None


def move_payout_in(
    conn: sqlite3.Connection,
    payout_id: str,
    *,
    to: str,
    allowed_from: Sequence[str],
    decided_by: str | None = None,
    provider: str | None = None,
    reference: str | None = None,
    reason: str | None = None,
) -> Payout:
    """Move a payout along pending -> processing -> completed | failed. A failed payout's amount goes back
    to the creator's pending balance (in the same transaction)."""
    payout = payout_in(conn, payout_id)
    if payout is None:
        raise NotFound("payout not found")
    if payout.status not in allowed_from:
        raise Conflict(f"the payout is {payout.status}; it cannot become {to}", code="payout_state")
    now = utcnow()
    conn.execute(
        "update payouts set status = ?, decided_by = coalesce(?, decided_by), provider = coalesce(?, provider),"
        " provider_reference = coalesce(?, provider_reference), failure_reason = coalesce(?, failure_reason),"
        " updated_at = ?, completed_at = case when ? in ('completed', 'failed') then ? else completed_at end"
        " where id = ?",
        (to, decided_by, provider, reference, reason, now, to, now, payout_id),
    )
    if to == "failed":
        conn.execute(
            "update creator_profiles set pending_payout_cents = pending_payout_cents + ?, updated_at = ?"
            " where user_id = ?",
            (payout.amount_cents, now, payout.creator_id),
        )
    moved = payout_in(conn, payout_id)
    assert moved is not None
    return moved


def set_payout_reference_in(conn: sqlite3.Connection, payout_id: str, reference: str) -> None:
    conn.execute(
        "update payouts set provider_reference = coalesce(provider_reference, ?), updated_at = ? where id = ?",
        (reference, utcnow(), payout_id),
    )


def payout_by_reference_in(conn: sqlite3.Connection, provider: str, reference: str) -> Payout | None:
    row = conn.execute(
        f"select {PAYOUT_COLUMNS} from payouts o where o.provider = ? and o.provider_reference = ?",
        (provider, reference),
    ).fetchone()
    return msgspec.convert(dict(row), Payout) if row else None


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """A deleted account's creator profile, earnings, payouts, unlocks and experiments."""
    counts = {}
    for table, column in (
        ("greeting_experiments", "creator_id"),
        ("character_unlocks", "user_id"),
        ("payouts", "creator_id"),
        ("creator_earnings", "creator_id"),
        ("creator_profiles", "user_id"),
    ):
        counts[table] = conn.execute(f"delete from {table} where {column} = ?", (user_id,)).rowcount
    return counts


def _profile(row: dict[str, Any]) -> CreatorProfile:
    row = dict(row)
    row["links"] = from_json(row["links"], [])
    return msgspec.convert(row, CreatorProfile, strict=False)


class CreatorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def profile(self, user_id: str) -> CreatorProfile | None:
        row = await self.db.fetchone(
            f"select {PROFILE_COLUMNS} from users u left join creator_profiles p on p.user_id = u.id where u.id = ?",
            (user_id,),
        )
        if row is None:
            return None
        if row["user_id"] is None:  # no profile yet: the account's own name, nothing earned
            display = await self.db.fetchval("select display_name from users where id = ?", (user_id,))
            return CreatorProfile(
                user_id=user_id,
                display_name=display or "",
                bio="",
                website=None,
                links=[],
                payout_email=None,
                is_verified=False,
                pending_payout_cents=0,
                total_earned_cents=0,
                created_at=None,
                updated_at=None,
            )
        return _profile(row)

    async def public_profile(self, user_id: str) -> PublicCreator | None:
        profile = await self.profile(user_id)
        if profile is None:
            return None
        return PublicCreator(
            user_id=profile.user_id,
            display_name=profile.display_name,
            bio=profile.bio,
            website=profile.website,
            links=profile.links,
            is_verified=profile.is_verified,
        )

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> None:
        columns = [c for c in EDITABLE if c in changes]

        def run(conn: sqlite3.Connection) -> None:
            ensure_profile_in(conn, user_id)
            if columns:
                values = [to_json(changes[c]) if c == "links" else changes[c] for c in columns]
                assignments = ", ".join(f"{c} = ?" for c in columns)
                conn.execute(
                    f"update creator_profiles set {assignments}, updated_at = ? where user_id = ?",
                    (*values, utcnow(), user_id),
                )

        await self.db.write(run)

    async def is_unlocked(self, user_id: str, character_id: str) -> bool:
        return bool(
            await self.db.fetchval(
                "select exists(select 1 from character_unlocks where user_id = ? and character_id = ?)",
                (user_id, character_id),
            )
        )

    async def earnings(self, creator_id: str, *, limit: int = 200) -> list[Earning]:
        rows = await self.db.fetchall(
            "select e.id, e.character_id, c.name as character_name, e.source, e.credits, e.gross_cents, e.fee_cents,"
            " e.net_cents, e.created_at from creator_earnings e left join characters c on c.id = e.character_id"
            " where e.creator_id = ? order by e.created_at desc, e.rowid desc limit ?",
            (creator_id, limit),
        )
        return [msgspec.convert(row, Earning) for row in rows]

    async def totals(self, creator_id: str) -> EarningsTotals:
        rows = await self.db.fetchall(
            "select source, sum(gross_cents) as gross, sum(fee_cents) as fee, sum(net_cents) as net"
            " from creator_earnings where creator_id = ? group by source",
            (creator_id,),
        )
        return EarningsTotals(
            gross_cents=sum(int(r["gross"]) for r in rows),
            fee_cents=sum(int(r["fee"]) for r in rows),
            net_cents=sum(int(r["net"]) for r in rows),
            by_source={r["source"]: int(r["net"]) for r in rows},
        )

    async def payouts(self, creator_id: str) -> list[Payout]:
        rows = await self.db.fetchall(
            f"select {PAYOUT_COLUMNS} from payouts o where o.creator_id = ? order by o.requested_at desc",
            (creator_id,),
        )
        return [msgspec.convert(row, Payout) for row in rows]

    async def all_payouts(self, status: str | None = None) -> list[AdminPayout]:
        sql = (
            f"select {PAYOUT_COLUMNS}, u.email as creator_email, u.display_name as creator_name from payouts o"
            " left join users u on u.id = o.creator_id"
        )
        rows = await self.db.fetchall(
            sql + (" where o.status = ?" if status else "") + " order by o.requested_at desc limit 500",
            (status,) if status else (),
        )
        return [msgspec.convert(row, AdminPayout) for row in rows]

    async def unlocks_per_day(self, character_ids: Sequence[str], since: str) -> list[dict[str, Any]]:
        if not character_ids:
            return []
        marks = ", ".join("?" for _ in character_ids)
        return await self.db.fetchall(
            f"select substr(created_at, 1, 10) as day, character_id, count(*) as n from character_unlocks"
            f" where character_id in ({marks}) and created_at >= ? group by day, character_id",
            (*character_ids, since),
        )

    async def ratings_per_day(self, character_ids: Sequence[str], since: str) -> list[dict[str, Any]]:
        if not character_ids:
            return []
        marks = ", ".join("?" for _ in character_ids)
        return await self.db.fetchall(
            f"select substr(created_at, 1, 10) as day, character_id, count(*) as n from character_ratings"
            f" where character_id in ({marks}) and created_at >= ? group by day, character_id",
            (*character_ids, since),
        )

    async def per_character(self, creator_id: str) -> dict[str, tuple[int, int]]:
        """character id -> (unlocks, net cents earned)."""
        rows = await self.db.fetchall(
            "select c.id, (select count(*) from character_unlocks u where u.character_id = c.id) as unlocks,"
            " (select coalesce(sum(net_cents), 0) from creator_earnings e where e.character_id = c.id"
            " and e.creator_id = ?) as net from characters c where c.creator_id = ? and c.deleted_at is null",
            (creator_id, creator_id),
        )
        return {row["id"]: (int(row["unlocks"]), int(row["net"])) for row in rows}
