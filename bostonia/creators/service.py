"""The creator economy: profiles, premium unlocks and tips, earnings at `revenue_share_rate`, payouts.

Credits a user spends on a creator (an unlock, a tip) are worth `cents_per_credit` to that creator before
the platform's fee; a subscriber's paid invoice is shared among the creators whose characters they chatted
with in the month before it, by messages sent. Each earning is written in the transaction of its cause
(with the payer's ledger row), and once per cause.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bostonia.analytics.recorder import EventSink
from bostonia.audit.store import record_in
from bostonia.billing import store as billing_store
from bostonia.billing.entitlements import EntitlementTable
from bostonia.billing.payments import PaymentService
from bostonia.billing.providers import PaymentEvent, PayoutOrder
from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.config import BillingConfig, CreatorsConfig
from bostonia.creators import store
from bostonia.creators.schemas import (
    AdminPayout,
    CreatorProfile,
    CreatorProfileUpdate,
    Earnings,
    Payout,
    PayoutRequest,
    PublicCreator,
    Tip,
    TipRequest,
    Unlock,
)
from bostonia.creators.store import CreatorStore
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utc_in
from bostonia.errors import BostoniaError, InvalidInput, NotFound, PaymentRequired
from bostonia.identity import Actor, User, require_admin
from bostonia.structs import changes_of

log = logging.getLogger(__name__)
SHARE_WINDOW = timedelta(days=30)


class CreatorService:
    def __init__(
        self,
        db: Database,
        creators: CreatorStore,
        characters: CharacterService,
        payments: PaymentService,
        entitlements: EntitlementTable,
        config: CreatorsConfig,
        billing: BillingConfig,
        analytics: EventSink,
    ) -> None:
        self.db = db
        self.creators = creators
        self.characters = characters
        self.payments = payments
        self.entitlements = entitlements
        self.config = config
        self.billing = billing
        self.analytics = analytics

    # -- profiles ---------------------------------------------------------------------------------------

    async def profile(self, user: User) -> CreatorProfile:
        profile = await self.creators.profile(user.id)
        if profile is None:
            raise NotFound("user not found")
        return profile

    async def update_profile(self, user: User, update: CreatorProfileUpdate) -> CreatorProfile:
        changes = changes_of(update)
        if isinstance(changes.get("display_name"), str):
            changes["display_name"] = " ".join(changes["display_name"].split())
        await self.creators.update_profile(user.id, changes)
        return await self.profile(user)

    async def public(self, viewer: User | None, creator_id: str) -> tuple[PublicCreator, list[Character]]:
        """A creator's public page: who they are and the characters the viewer may see. A creator with no
        character the viewer may see does not exist for them (ids are not probeable)."""
        characters = (await self.characters.browse(viewer, creator_id=creator_id, limit=100)).items
        listed = [c for c in characters if c.visibility == "public" or (viewer and viewer.id == creator_id)]
        profile = await self.creators.public_profile(creator_id)
        if profile is None or not listed:
            raise NotFound("creator not found")
        return profile, listed

    # -- premium characters -------------------------------------------------------------------------------

    async def ensure_can_chat(self, user: User, character: Character) -> None:
        """Chat's gate on new conversations: a premium character needs an unlock, unless the plan includes
        premium characters or the user made it."""
        if not character.is_premium or character.premium_credits == 0:
            return
        if character.creator_id == user.id or self.entitlements.of(user.tier).premium_access:
            return
        if not await self.creators.is_unlocked(user.id, character.id):
            raise PaymentRequired(
                f"{character.name} is a premium character: unlock it for {character.premium_credits} credits",
                code="premium_character_locked",
                details={"character_id": character.id, "credits": character.premium_credits},
            )

    async def unlock(self, user: User, character_id: str) -> Unlock:
        character = await self.characters.get(user, character_id)
        if not character.is_premium or character.premium_credits == 0:
            raise InvalidInput("this character is free to chat with", code="not_premium")
        if character.creator_id == user.id:
            raise InvalidInput("you made this character: it is yours to chat with", code="own_character")
        credits = character.premium_credits

        def run(conn: sqlite3.Connection) -> Unlock:
            created_at = store.record_unlock_in(conn, user.id, character.id, credits)
            entry = billing_store.change_credits_in(
                conn,
                user.id,
                -credits,
                "spend",
                reference=f"unlock:{character.id}",
                details={"reason": "premium unlock", "character_id": character.id},
            )
            if character.creator_id:
                store.add_earning_in(
                    conn,
                    creator_id=character.creator_id,
                    source="premium_unlock",
                    gross_cents=credits * self.config.cents_per_credit,
                    rate=self.config.revenue_share_rate,
                    reference=f"unlock:{user.id}:{character.id}",
                    character_id=character.id,
                    credits=credits,
                )
            balance = entry.balance_after if entry else billing_store.balance_in(conn, user.id)
            return Unlock(character_id=character.id, credits=credits, balance=balance, created_at=created_at)

        unlock = await self.db.write(run)
        self.analytics.record("feature_used", user_id=user.id, character_id=character.id, feature="premium_unlock")
        return unlock

    async def tip(self, user: User, character_id: str, request: TipRequest) -> Tip:
        character = await self.characters.get(user, character_id)
        creator_id = character.creator_id
        if creator_id is None or creator_id == user.id:
            raise InvalidInput("tips go to another user's characters", code="cannot_tip")
        tip_id = new_id()

        def run(conn: sqlite3.Connection) -> Tip:
            entry = billing_store.change_credits_in(
                conn,
                user.id,
                -request.credits,
                "spend",
                reference=f"tip:{tip_id}",
                details={"reason": "tip", "character_id": character.id},
            )
            store.add_earning_in(
                conn,
                creator_id=creator_id,
                source="tip",
                gross_cents=request.credits * self.config.cents_per_credit,
                rate=self.config.revenue_share_rate,
                reference=f"tip:{tip_id}",
                character_id=character.id,
                credits=request.credits,
            )
            assert entry is not None
            return Tip(character_id=character.id, credits=request.credits, balance=entry.balance_after)

        tip = await self.db.write(run)
        self.analytics.record("feature_used", user_id=user.id, character_id=character.id, feature="tip")
        return tip

    # -- earnings and payouts -----------------------------------------------------------------------------

    async def earnings(self, user: User) -> Earnings:
        profile = await self.profile(user)
        return Earnings(
            currency=self.billing.currency,
            revenue_share_rate=str(self.config.revenue_share_rate),
            pending_payout_cents=profile.pending_payout_cents,
            totals=await self.creators.totals(user.id),
            items=await self.creators.earnings(user.id),
            payouts=await self.creators.payouts(user.id),
        )

    async def request_payout(self, user: User, request: PayoutRequest) -> Payout:
        amount = request.amount_cents
        if amount is not None and amount < self.config.minimum_payout_cents:
            raise InvalidInput(
                f"the smallest payout is {self.config.minimum_payout_cents} cents", code="payout_too_small"
            )

        def run(conn: sqlite3.Connection) -> Payout:
            pending = conn.execute(
                "select coalesce((select pending_payout_cents from creator_profiles where user_id = ?), 0)", (user.id,)
            ).fetchone()[0]
            if amount is None and int(pending) < self.config.minimum_payout_cents:
                raise InvalidInput(
                    f"the smallest payout is {self.config.minimum_payout_cents} cents; {pending} are pending",
                    code="payout_too_small",
                )
            payout_id = store.request_payout_in(conn, user.id, amount, self.billing.currency)
            payout = store.payout_in(conn, payout_id)
            assert payout is not None
            return payout

        return await self.db.write(run)

    async def payout_account_link(self, user: User, base_url: str) -> str:
        provider = self.payments.provider
        if provider is None:
            raise NotFound("this server pays creators by hand: ask its admins", code="payments_disabled")
        return await provider.payout_account_link(user.id, user.email, base_url.rstrip("/") + "/studio/earnings")

    async def all_payouts(self, *, actor: Actor, status: str | None = None) -> list[AdminPayout]:
        require_admin(actor)
        return await self.creators.all_payouts(status)

    async def approve_payout(self, payout_id: str, *, actor: Actor) -> Payout:
        """pending -> processing; with a payment provider the money is sent at once (its webhook then
        completes or fails the payout); without one an admin pays by hand and marks it completed."""
        require_admin(actor)
        provider = self.payments.provider
        payout = await self._move(
            payout_id, "processing", ("pending",), actor, provider=provider.name if provider else None
        )
        if provider is None:
            return payout
        try:
            reference = await provider.send_payout(
                PayoutOrder(
                    payout_id=payout.id,
                    creator_id=payout.creator_id,
                    amount_cents=payout.amount_cents,
                    currency=payout.currency,
                )
            )
        except BostoniaError as exc:
            return await self._move(payout_id, "failed", ("processing",), actor, reason=exc.message)
        except Exception:
            log.exception("sending payout %s failed", payout_id)
            return await self._move(payout_id, "failed", ("processing",), actor, reason="the provider refused it")
        # The provider's webhook may have completed the payout already: only the transfer id is added.
        await self.db.write(lambda conn: store.set_payout_reference_in(conn, payout_id, reference))
        return await self._payout(payout_id)

    async def _payout(self, payout_id: str) -> Payout:
        payout = await self.db.read(lambda conn: store.payout_in(conn, payout_id))
        if payout is None:
            raise NotFound("payout not found")
        return payout

    async def complete_payout(self, payout_id: str, *, actor: Actor) -> Payout:
        require_admin(actor)
        return await self._move(payout_id, "completed", ("processing",), actor)

    async def fail_payout(self, payout_id: str, *, actor: Actor, reason: str = "") -> Payout:
        """Reject a pending payout or record a failed one: the amount goes back to the creator's pending."""
        require_admin(actor)
        return await self._move(payout_id, "failed", ("pending", "processing"), actor, reason=reason or "rejected")

    async def _move(
        self,
        payout_id: str,
        to: str,
        allowed_from: tuple[str, ...],
        actor: Actor,
        *,
        provider: str | None = None,
        reference: str | None = None,
        reason: str | None = None,
    ) -> Payout:
        def run(conn: sqlite3.Connection) -> Payout:
            payout = store.move_payout_in(
                conn,
                payout_id,
                to=to,
                allowed_from=allowed_from,
                decided_by=actor.id,
                provider=provider,
                reference=reference,
                reason=reason,
            )
            record_in(
                conn,
                actor_id=actor.id,
                action=f"payout.{to}",
                target_type="payout",
                target_id=payout_id,
                details={"amount_cents": payout.amount_cents, "reason": reason} if reason else None,
            )
            return payout

        return await self.db.write(run)

    # -- payment events (called by billing inside its webhook transaction) ------------------------------------

    def payment_event_in(
        self,
        conn: sqlite3.Connection,
        provider: str,
        event: PaymentEvent,
        *,
        user_id: str | None,
        payment_id: str | None,
    ) -> None:
        if event.kind == "invoice_paid" and user_id and payment_id and event.amount_cents > 0:
            self._share_subscription_in(conn, user_id, payment_id, event.amount_cents)
        elif event.kind in ("transfer_paid", "transfer_failed"):
            payout = None
            if event.payout_id:
                payout = store.payout_in(conn, event.payout_id)
            if payout is None and event.transfer_id:
                payout = store.payout_by_reference_in(conn, provider, event.transfer_id)
            if payout is None or payout.status in ("completed", "failed"):
                return
            store.move_payout_in(
                conn,
                payout.id,
                to="completed" if event.kind == "transfer_paid" else "failed",
                allowed_from=("pending", "processing"),
                reference=event.transfer_id,
                reason=None if event.kind == "transfer_paid" else f"{provider}: {event.type}",
            )

    def _share_subscription_in(self, conn: sqlite3.Connection, user_id: str, payment_id: str, amount: int) -> None:
        total, by_creator = store.subscriber_usage_in(conn, user_id, utc_in(-SHARE_WINDOW))
        if total == 0:
            return
        for creator_id, messages in sorted(by_creator.items()):
            store.add_earning_in(
                conn,
                creator_id=creator_id,
                source="subscription_share",
                gross_cents=amount * messages // total,
                rate=self.config.revenue_share_rate,
                reference=f"share:{payment_id}:{creator_id}",
            )

    def share_details(self) -> dict[str, Any]:
        return {"revenue_share_rate": str(self.config.revenue_share_rate), "window_days": SHARE_WINDOW.days}
