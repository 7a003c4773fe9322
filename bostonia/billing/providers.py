"""Payment providers: what a plugin registers with `register_payment_providers`, in Bostonia's own terms.

A provider turns Bostonia's requests (a checkout for a tier or a credit pack, a cancellation, a portal
link, a payout to a creator) into calls to its service, and its webhooks into `PaymentEvent`s. Bostonia
applies the events itself — idempotently, each in one transaction with its ledger rows — so a provider
never writes Bostonia's tables. These types are part of the plugin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

import msgspec

EventKind = Literal[
    "checkout_completed",  # a checkout finished: a subscription started, or a credit pack was paid
    "invoice_paid",  # a subscription period was paid (the first one too)
    "payment_failed",  # a subscription payment failed: the subscription is past due
    "subscription_updated",  # status, tier, period or cancel-at-period-end changed
    "subscription_deleted",  # the subscription ended
    "transfer_paid",  # a payout reached the creator's account
    "transfer_failed",  # a payout failed or was reversed
    "ignored",  # anything else: acknowledged and recorded, nothing changes
]


class PaymentEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's webhook event, verified and translated. Fields a kind does not use stay None."""

    id: str  # the provider's event id: a replay of it changes nothing
    type: str  # the provider's own event type, for the receipt
    kind: EventKind
    user_id: str | None = None  # Bostonia's user id, as the checkout passed it to the provider
    customer_id: str | None = None
    subscription_id: str | None = None
    tier: str | None = None
    status: str | None = None  # the subscription's status: active, trialing, past_due, canceled, incomplete
    period_start: str | None = None  # ISO-8601 UTC
    period_end: str | None = None
    cancel_at_period_end: bool = False
    payment_id: str | None = None  # the provider's id of the money movement (invoice, payment intent)
    amount_cents: int = 0
    currency: str | None = None
    pack: str | None = None  # a credit pack's name
    credits: int | None = None
    payout_id: str | None = None  # Bostonia's payout id, as `send_payout` passed it
    transfer_id: str | None = None


class CheckoutCustomer(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    email: str
    customer_id: str | None  # the provider's customer id from an earlier checkout, if any


class CheckoutSession(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    customer_id: str | None = None  # remembered for the next checkout and the portal


class PayoutOrder(msgspec.Struct, frozen=True, kw_only=True):
    payout_id: str
    creator_id: str
    amount_cents: int
    currency: str


class PaymentProvider(Protocol):
    """A payment service. Methods may block on the network: they run off the event loop."""

    name: str

    async def subscription_checkout(
        self,
        customer: CheckoutCustomer,
        *,
        tier: str,
        price_cents: int,
        currency: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession: ...

    async def credits_checkout(
        self,
        customer: CheckoutCustomer,
        *,
        pack: str,
        credits: int,
        price_cents: int,
        currency: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession: ...

    async def cancel_subscription(self, subscription_id: str) -> None:
        """Cancel at the end of the paid period (the provider confirms by webhook)."""
        ...

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        """The provider's page where the customer manages payment methods, invoices and the plan."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Verify the request's signature and translate it; raise `InvalidInput` for a bad, missing or
        stale signature or an unreadable body (the webhook then answers 400 and nothing changes)."""
        ...

    async def payout_account_link(self, creator_id: str, email: str, return_url: str) -> str:
        """A link where a creator connects (or finishes connecting) the account payouts go to."""
        ...

    async def send_payout(self, order: PayoutOrder) -> str:
        """Send money to the creator's connected account; returns the provider's transfer id. Raise
        `InvalidInput` if the creator has no connected account yet."""
        ...
