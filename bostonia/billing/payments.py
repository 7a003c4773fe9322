"""Taking payments through the configured provider: checkouts, cancellation, the customer portal, and
the webhook that turns the provider's events into plans, payments and credits.

Without a provider (a free community) everything but the webhook still answers: plans come from admins
(`bostonia user tier`), credits from `bostonia credits grant`, and checkouts say payments are off.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Protocol

from bostonia.analytics.recorder import EventSink
from bostonia.billing import store
from bostonia.billing.entitlements import EntitlementTable
from bostonia.billing.providers import CheckoutCustomer, PaymentEvent, PaymentProvider
from bostonia.billing.schemas import (
    CreditPurchaseRequest,
    PaymentHistory,
    PortalRequest,
    Redirect,
    SubscribeRequest,
    WebhookReceipt,
)
from bostonia.billing.store import BillingStore
from bostonia.config import BillingConfig
from bostonia.db import Database, sqlite3
from bostonia.errors import BadRequest, ConfigError, InvalidInput, NotFound
from bostonia.identity import TIERS, User

log = logging.getLogger(__name__)
SUBSCRIPTION_STATUSES = {"active", "trialing", "past_due", "canceled", "incomplete"}


class PaymentListener(Protocol):
    """Another capability's part in applying a payment event, in the same transaction (creators take
    their subscription share of a paid invoice, payouts follow their transfers)."""

    def payment_event_in(
        self,
        conn: sqlite3.Connection,
        provider: str,
        event: PaymentEvent,
        *,
        user_id: str | None,
        payment_id: str | None,
    ) -> None:
        """`user_id` is the paying account (None if unknown); `payment_id` the payment row it recorded."""
        ...


def choose_provider(providers: Mapping[str, PaymentProvider], config: BillingConfig) -> PaymentProvider | None:
    if config.payment_provider:
        if config.payment_provider not in providers:
            raise ConfigError(
                f"[billing] payment_provider = {config.payment_provider!r}, but no enabled plugin registers it"
                f" (registered: {', '.join(providers) or 'none'})"
            )
        return providers[config.payment_provider]
    if len(providers) > 1:
        raise ConfigError(
            f"several payment providers ({', '.join(providers)}): choose one in [billing] payment_provider"
        )
    return next(iter(providers.values()), None)


def same_site(path: str | None, base_url: str, default: str) -> str:
    """An absolute URL on this server for a provider to send the browser back to (paths only: no open
    redirects through the checkout)."""
    path = path or default
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise InvalidInput("return addresses must be paths on this server, like /billing", details={"field": "url"})
    return base_url.rstrip("/") + path


class PaymentService:
    def __init__(
        self,
        db: Database,
        billing: BillingStore,
        entitlements: EntitlementTable,
        config: BillingConfig,
        provider: PaymentProvider | None,
        analytics: EventSink,
    ) -> None:
        self.db = db
        self.billing = billing
        self.entitlements = entitlements
        self.config = config
        self.provider = provider
        self.analytics = analytics
        self.listeners: list[PaymentListener] = []

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def _provider(self) -> PaymentProvider:
        if self.provider is None:
            raise NotFound(
                "this server takes no payments: plans and credits come from its admins", code="payments_disabled"
            )
        return self.provider

    async def _customer(self, user: User, provider: PaymentProvider) -> CheckoutCustomer:
        return CheckoutCustomer(
            user_id=user.id, email=user.email, customer_id=await self.billing.customer_id(user.id, provider.name)
        )

    async def _remember_customer(self, user: User, provider: PaymentProvider, customer_id: str | None) -> None:
        if customer_id:
            await self.db.write(lambda conn: store.save_customer_in(conn, user.id, provider.name, customer_id))

    # -- what users start ------------------------------------------------------------------------------

    async def subscribe(self, user: User, request: SubscribeRequest, base_url: str) -> Redirect:
        provider = self._provider()
        price = self.entitlements.of(request.tier).price_cents
        if price <= 0:
            raise InvalidInput(f"the {request.tier} plan is not for sale here", code="tier_not_for_sale")
        if TIERS.index(user.tier) >= TIERS.index(request.tier) and await self.billing.provider_subscriptions(
            user.id, provider.name
        ):
            raise InvalidInput(
                f"you already have the {user.tier} plan; change it in the billing portal", code="already_subscribed"
            )
        session = await provider.subscription_checkout(
            await self._customer(user, provider),
            tier=request.tier,
            price_cents=price,
            currency=self.config.currency,
            success_url=same_site(request.success_url, base_url, "/billing?checkout=success"),
            cancel_url=same_site(request.cancel_url, base_url, "/billing?checkout=cancelled"),
        )
        await self._remember_customer(user, provider, session.customer_id)
        return Redirect(url=session.url, id=session.id)

    async def buy_credits(self, user: User, request: CreditPurchaseRequest, base_url: str) -> Redirect:
        provider = self._provider()
        pack = next((p for p in self.config.credit_packs if p.name == request.pack), None)
        if pack is None:
            names = ", ".join(p.name for p in self.config.credit_packs)
            raise InvalidInput(f"no credit pack {request.pack!r}; choose one of {names}", details={"field": "pack"})
        session = await provider.credits_checkout(
            await self._customer(user, provider),
            pack=pack.name,
            credits=pack.credits,
            price_cents=pack.price_cents,
            currency=self.config.currency,
            success_url=same_site(request.success_url, base_url, "/billing?checkout=success"),
            cancel_url=same_site(request.cancel_url, base_url, "/billing?checkout=cancelled"),
        )
        await self._remember_customer(user, provider, session.customer_id)
        return Redirect(url=session.url, id=session.id)

    async def cancel(self, user: User) -> None:
        """Cancel the paid plan at the end of its period (the provider's webhook confirms it)."""
        provider = self._provider()
        subscriptions = await self.billing.provider_subscriptions(user.id, provider.name)
        if not subscriptions:
            raise InvalidInput("you have no paid plan to cancel", code="no_paid_plan")
        for subscription in subscriptions:
            if subscription.provider_subscription_id and not subscription.cancel_at_period_end:
                await provider.cancel_subscription(subscription.provider_subscription_id)
                await self.db.write(partial(store.mark_cancel_at_period_end_in, subscription_row_id=subscription.id))

    async def portal(self, user: User, request: PortalRequest, base_url: str) -> Redirect:
        provider = self._provider()
        customer_id = await self.billing.customer_id(user.id, provider.name)
        if customer_id is None:
            raise InvalidInput("you have not paid for anything yet", code="no_customer")
        url = await provider.portal_url(customer_id, same_site(request.return_url, base_url, "/billing"))
        return Redirect(url=url)

    async def history(self, user: User) -> PaymentHistory:
        return PaymentHistory(await self.billing.payments(user.id))

    # -- the webhook -----------------------------------------------------------------------------------

    async def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookReceipt:
        provider = self._provider()
        try:
            event = provider.parse_webhook(payload, headers)
        except InvalidInput as exc:  # a bad, missing or stale signature: 400, and nothing changes
            raise BadRequest(exc.message, code=exc.code, details=exc.details) from None

        def apply(conn: sqlite3.Connection) -> str:
            if not store.claim_event_in(conn, provider.name, event.id, event.type):
                return "duplicate"
            outcome = self._apply_in(conn, provider.name, event)
            store.set_event_outcome_in(conn, provider.name, event.id, outcome)
            return outcome

        outcome = await self.db.write(apply)
        if outcome == "applied":
            self._record_analytics(event)
        log.info("payment event", extra={"provider": provider.name, "event_type": event.type, "outcome": outcome})
        return WebhookReceipt(received=True, event_id=event.id, type=event.type, outcome=outcome)

    def _user_of(self, conn: sqlite3.Connection, provider: str, event: PaymentEvent) -> str | None:
        if event.user_id and store.user_exists_in(conn, event.user_id):
            if event.customer_id:
                store.save_customer_in(conn, event.user_id, provider, event.customer_id)
            return event.user_id
        if event.customer_id:
            return store.user_for_customer_in(conn, provider, event.customer_id)
        return None

    def _apply_in(self, conn: sqlite3.Connection, provider: str, event: PaymentEvent) -> str:
        if event.kind == "ignored":
            return "ignored"
        payment_id: str | None = None
        user_id = (
            self._user_of(conn, provider, event) if event.kind not in ("transfer_paid", "transfer_failed") else None
        )
        if event.kind == "checkout_completed" and event.credits:
            if user_id is None:
                return "ignored"
            payment_id = store.record_payment_in(
                conn,
                user_id=user_id,
                provider=provider,
                provider_payment_id=event.payment_id or event.id,
                kind="credits",
                status="succeeded",
                amount_cents=event.amount_cents,
                currency=event.currency or self.config.currency,
                credits=event.credits,
                description=f"{event.credits} credits ({event.pack or 'pack'})",
            )
            store.change_credits_in(
                conn,
                user_id,
                event.credits,
                "purchase",
                reference=f"payment:{provider}:{event.payment_id or event.id}",
                details={"pack": event.pack, "amount_cents": event.amount_cents},
            )
        elif event.kind in ("checkout_completed", "subscription_updated", "subscription_deleted"):
            if user_id is None or not event.subscription_id:
                return "ignored"
            existing = store.provider_subscription_in(conn, provider, event.subscription_id)
            tier = event.tier if event.tier in TIERS else (existing.tier if existing else None)
            if tier is None:
                return "ignored"
            status = "canceled" if event.kind == "subscription_deleted" else (event.status or "active")
            store.save_provider_subscription_in(
                conn,
                user_id=user_id,
                provider=provider,
                subscription_id=event.subscription_id,
                customer_id=event.customer_id,
                tier=tier,
                status=status if status in SUBSCRIPTION_STATUSES else "past_due",
                period_start=event.period_start,
                period_end=event.period_end,
                cancel_at_period_end=event.cancel_at_period_end,
            )
        elif event.kind in ("invoice_paid", "payment_failed"):
            existing = (
                store.provider_subscription_in(conn, provider, event.subscription_id) if event.subscription_id else None
            )
            user_id = user_id or (existing.user_id if existing else None)
            if user_id is None:
                return "ignored"
            paid = event.kind == "invoice_paid"
            plan_tier = (existing.tier if existing else None) or event.tier
            payment_id = store.record_payment_in(
                conn,
                user_id=user_id,
                provider=provider,
                provider_payment_id=event.payment_id or event.id,
                kind="subscription",
                status="succeeded" if paid else "failed",
                amount_cents=event.amount_cents,
                currency=event.currency or self.config.currency,
                tier=plan_tier,
                description=f"{plan_tier or 'plan'} subscription",
            )
            if existing is not None:
                if paid and (existing.status != "active" or event.period_end):
                    store.save_provider_subscription_in(
                        conn,
                        user_id=user_id,
                        provider=provider,
                        subscription_id=existing.provider_subscription_id or "",
                        customer_id=event.customer_id,
                        tier=existing.tier,
                        status="active",
                        period_start=event.period_start,
                        period_end=event.period_end,
                        cancel_at_period_end=existing.cancel_at_period_end,
                    )
                elif not paid:
                    store.set_subscription_status_in(conn, existing.id, "past_due")
            if paid and plan_tier and (monthly := self.entitlements.of(plan_tier).monthly_credits):
                store.change_credits_in(
                    conn,
                    user_id,
                    monthly,
                    "grant",
                    reference=f"invoice:{provider}:{event.payment_id or event.id}",
                    details={"reason": "monthly credits", "tier": plan_tier},
                )
        for listener in self.listeners:
            listener.payment_event_in(conn, provider, event, user_id=user_id, payment_id=payment_id)
        return "applied"

    def _record_analytics(self, event: PaymentEvent) -> None:
        if event.kind == "checkout_completed" and event.credits:
            self.analytics.record(
                "credit_purchased", user_id=event.user_id, credits=event.credits, amount_cents=event.amount_cents
            )
        elif event.kind in ("checkout_completed", "subscription_updated", "subscription_deleted", "payment_failed"):
            status = {"subscription_deleted": "canceled", "payment_failed": "past_due"}.get(
                event.kind, event.status or "active"
            )
            self.analytics.record("subscription_changed", user_id=event.user_id, tier=event.tier, status=status)
