"""Plans and credits: what an account holds, what its plan includes, and the admin's grants.

Every change to a balance is a ledger row written in the same transaction as its cause (see
`billing.store.change_credits_in`); the balance row is a running total the ledger can always re-derive.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bostonia.audit.store import record_in
from bostonia.billing import store
from bostonia.billing.entitlements import EntitlementTable
from bostonia.billing.schemas import CreditBalance, CreditPackOffer, Entitlements, LedgerEntry, Offers, Plan
from bostonia.billing.store import BillingStore
from bostonia.config import BillingConfig
from bostonia.db import Database, sqlite3
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import Actor, User, require_admin

MAX_GRANT = 100_000_000
MAX_LEDGER_PAGE = 10_000


class BillingService:
    def __init__(
        self,
        db: Database,
        billing: BillingStore,
        entitlements: EntitlementTable,
        config: BillingConfig,
        *,
        payments_enabled: bool = False,
    ) -> None:
        self.db = db
        self.billing = billing
        self.entitlements = entitlements
        self.config = config
        self.payments_enabled = payments_enabled

    # -- the signed-in user's own ---------------------------------------------------------------------

    async def balance(self, user: User) -> CreditBalance:
        return await self.billing.balance(user.id)

    async def ledger(self, user: User, *, limit: int = 100) -> list[LedgerEntry]:
        if not 1 <= limit <= MAX_LEDGER_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_LEDGER_PAGE}", details={"field": "limit"})
        return await self.billing.ledger(user.id, limit=limit)

    def entitlements_of(self, user: User) -> Entitlements:
        return self.entitlements.of(user.tier)

    async def plan(self, user: User) -> Plan:
        """The plan in force. The tier is read from the database on every request (the access token's
        `tier` claim is informational), so a change applies to the very next request."""
        subscription = await self.billing.granting_subscription(user.id)
        tier = subscription.tier if subscription else "free"
        return Plan(
            tier=tier,
            entitlements=self.entitlements.of(tier),
            subscription=subscription,
            payments_enabled=self.payments_enabled,
        )

    def offers(self) -> Offers:
        return Offers(
            tiers=self.entitlements.all(),
            credit_packs=[
                CreditPackOffer(
                    name=p.name, credits=p.credits, price_cents=p.price_cents, currency=self.config.currency
                )
                for p in self.config.credit_packs
            ],
            currency=self.config.currency,
            payments_enabled=self.payments_enabled,
        )

    # -- administration ---------------------------------------------------------------------------------

    async def grant(self, user_id: str, credits: int, *, actor: Actor, note: str = "") -> LedgerEntry:
        """Give an account credits (audit-logged with the actor, in the ledger row's transaction)."""
        require_admin(actor)
        if not 1 <= credits <= MAX_GRANT:
            raise InvalidInput(f"grant between 1 and {MAX_GRANT} credits", details={"field": "credits"})

        def run(conn: sqlite3.Connection) -> LedgerEntry:
            if not store.user_exists_in(conn, user_id):
                raise NotFound("no such user")
            entry = store.change_credits_in(
                conn,
                user_id,
                credits,
                "grant",
                details={
                    "reason": "admin grant",
                    "note": note[:200],
                    "actor": getattr(actor, "label", None) or actor.id,
                },
            )
            assert entry is not None  # no reference: never a duplicate
            record_in(
                conn,
                actor_id=actor.id,
                action="credits.grant",
                target_type="user",
                target_id=user_id,
                details={"credits": credits, "note": note[:200]},
            )
            return entry

        return await self.db.write(run)

    async def account_balance(self, user_id: str, *, actor: Actor) -> CreditBalance:
        require_admin(actor)
        return await self.billing.balance(user_id)

    async def account_ledger(self, user_id: str, *, actor: Actor, limit: int | None = None) -> list[LedgerEntry]:
        require_admin(actor)
        return await self.billing.ledger(user_id, limit=limit)

    async def grant_monthly_credits(self, *, now: datetime | None = None) -> int:
        """The monthly allowance of plans no provider bills (the free plan, admin-granted plans): once per
        calendar month per account, whenever this runs (start-up, hourly housekeeping). Returns grants made."""
        month = (now or datetime.now(UTC)).strftime("%Y-%m")
        due = [
            (user_id, tier, credits)
            for user_id, tier in await self.billing.unmetered_plans()
            if (credits := self.entitlements.of(tier).monthly_credits) > 0
        ]
        if not due:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            made = 0
            for user_id, tier, credits in due:
                entry = store.change_credits_in(
                    conn,
                    user_id,
                    credits,
                    "grant",
                    reference=f"monthly:{month}",
                    details={"reason": "monthly credits", "tier": tier},
                )
                made += entry is not None
            return made

        return await self.db.write(run)
