"""What billing shows: balances, ledger rows, plans, payments, checkout links."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from bostonia.identity import Tier

LedgerKind = Literal["purchase", "spend", "grant", "refund", "adjustment"]
SubscriptionStatus = Literal["active", "trialing", "past_due", "canceled", "incomplete"]
PaymentKind = Literal["subscription", "credits"]
PaymentStatus = Literal["succeeded", "failed", "refunded"]
Url = Annotated[str, msgspec.Meta(max_length=2000)]


class CreditBalance(msgspec.Struct, kw_only=True):
    """`credits` in `GET /users/me`: what the account holds and has ever bought, received and spent."""

    balance: int
    lifetime_purchased: int
    lifetime_earned: int
    lifetime_spent: int
    updated_at: str


class LedgerEntry(msgspec.Struct, kw_only=True):
    """One change of a balance; `balance_after` is the balance it left (the ledger audits itself)."""

    id: str
    user_id: str
    amount: int
    kind: LedgerKind
    reference: str | None
    details: dict[str, Any]
    balance_after: int
    created_at: str


class LedgerPage(msgspec.Struct):
    items: list[LedgerEntry]


class Entitlements(msgspec.Struct, kw_only=True):
    """What a tier includes."""

    tier: Tier
    rate_limit_per_minute: int
    model_routes: list[str]
    monthly_credits: int
    premium_access: bool
    price_cents: int

    def allows_route(self, route: str) -> bool:
        return "*" in self.model_routes or route in self.model_routes


class Subscription(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    tier: Tier
    status: SubscriptionStatus
    provider: str | None
    provider_subscription_id: str | None
    current_period_start: str | None
    current_period_end: str | None
    cancel_at_period_end: bool
    created_at: str
    updated_at: str


class Plan(msgspec.Struct, kw_only=True):
    """`GET /payments/subscription`: the plan in force, what it includes, and the subscription behind it."""

    tier: Tier
    entitlements: Entitlements
    subscription: Subscription | None
    payments_enabled: bool


class CreditPackOffer(msgspec.Struct, kw_only=True):
    name: str
    credits: int
    price_cents: int
    currency: str


class Offers(msgspec.Struct, kw_only=True):
    """`GET /payments/plans`: the tiers and credit packs on sale (when a provider takes payments)."""

    tiers: list[Entitlements]
    credit_packs: list[CreditPackOffer]
    currency: str
    payments_enabled: bool


class Payment(msgspec.Struct, kw_only=True):
    id: str
    provider: str
    provider_payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    amount_cents: int
    currency: str
    tier: str | None
    credits: int | None
    description: str
    created_at: str


class PaymentHistory(msgspec.Struct):
    items: list[Payment]


class SubscribeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tier: Literal["plus", "pro", "creator"]
    success_url: Url | None = None
    cancel_url: Url | None = None


class CreditPurchaseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pack: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    success_url: Url | None = None
    cancel_url: Url | None = None


class PortalRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    return_url: Url | None = None


class Redirect(msgspec.Struct, kw_only=True):
    """Where to send the browser (a provider's checkout or portal page)."""

    url: str
    id: str | None = None


class WebhookReceipt(msgspec.Struct, kw_only=True):
    received: bool
    event_id: str
    type: str
    outcome: str  # "applied", "ignored" (a type Bostonia does not act on) or "duplicate"
