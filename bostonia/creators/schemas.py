"""What the creator economy and the studio show."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

EarningSource = Literal["premium_unlock", "premium_chat", "tip", "subscription_share", "adjustment"]
PayoutStatus = Literal["pending", "processing", "completed", "failed"]
Link = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https?://\S+$")]


class CreatorProfile(msgspec.Struct, kw_only=True):
    user_id: str
    display_name: str
    bio: str
    website: str | None
    links: list[str]
    payout_email: str | None
    is_verified: bool
    pending_payout_cents: int
    total_earned_cents: int
    created_at: str | None
    updated_at: str | None


class PublicCreator(msgspec.Struct, kw_only=True):
    """A creator as anyone sees them (no payout details)."""

    user_id: str
    display_name: str
    bio: str
    website: str | None
    links: list[str]
    is_verified: bool


class CreatorProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    bio: Annotated[str, msgspec.Meta(max_length=4000)] | msgspec.UnsetType = msgspec.UNSET
    website: Link | msgspec.UnsetType | None = msgspec.UNSET
    links: Annotated[list[Link], msgspec.Meta(max_length=10)] | msgspec.UnsetType = msgspec.UNSET
    payout_email: (
        Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | msgspec.UnsetType | None
    ) = msgspec.UNSET


class Earning(msgspec.Struct, kw_only=True):
    id: str
    character_id: str | None
    character_name: str | None
    source: EarningSource
    credits: int
    gross_cents: int
    fee_cents: int
    net_cents: int
    created_at: str


class EarningsTotals(msgspec.Struct, kw_only=True):
    gross_cents: int
    fee_cents: int
    net_cents: int
    by_source: dict[str, int]  # net cents per source


class Payout(msgspec.Struct, kw_only=True):
    id: str
    creator_id: str
    amount_cents: int
    currency: str
    status: PayoutStatus
    provider: str | None
    provider_reference: str | None
    failure_reason: str | None
    requested_at: str
    updated_at: str
    completed_at: str | None


class AdminPayout(Payout, kw_only=True):
    creator_email: str | None
    creator_name: str | None


class Earnings(msgspec.Struct, kw_only=True):
    """`GET /creator/earnings`: the creator's own money."""

    currency: str
    revenue_share_rate: str
    pending_payout_cents: int
    totals: EarningsTotals
    items: list[Earning]
    payouts: list[Payout]


class PayoutRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Omitted: everything pending.
    amount_cents: Annotated[int, msgspec.Meta(ge=1)] | None = None


class PayoutDecision(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CharacterStats(msgspec.Struct, kw_only=True):
    id: str
    name: str
    visibility: str
    is_premium: bool
    premium_credits: int
    total_conversations: int
    total_messages: int
    avg_rating: float
    rating_count: int
    favorite_count: int
    views_30d: int
    unlocks: int
    net_cents: int


class CreatorCharacters(msgspec.Struct):
    items: list[CharacterStats]


class Series(msgspec.Struct, kw_only=True):
    """One line of a chart: a value per day."""

    metric: str
    character_id: str | None
    days: list[str]
    values: list[int]


class CreatorAnalytics(msgspec.Struct, kw_only=True):
    days: list[str]
    # metric -> character id -> a value per day (aligned with `days`)
    series: dict[str, dict[str, list[int]]]
    totals: dict[str, int]
    characters: dict[str, str]  # id -> name


class Unlock(msgspec.Struct, kw_only=True):
    character_id: str
    credits: int
    balance: int
    created_at: str


class TipRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    credits: Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class Tip(msgspec.Struct, kw_only=True):
    character_id: str
    credits: int
    balance: int


class ExperimentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    character_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # Indexes into the card's greetings: 0 is the first message, 1... its alternate greetings.
    greeting_a: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    greeting_b: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 1


class VariantResult(msgspec.Struct, kw_only=True):
    variant: Literal["a", "b"]
    greeting_index: int
    greeting: str
    conversations: int  # the sample size
    mean_user_messages: float
    kept_chatting: int  # conversations where the user sent at least KEPT_CHATTING messages
    kept_chatting_rate: float


class Experiment(msgspec.Struct, kw_only=True):
    id: str
    character_id: str
    character_name: str
    status: Literal["running", "stopped"]
    created_at: str
    stopped_at: str | None
    variants: list[VariantResult]
    leader: Literal["a", "b"] | None  # which keeps users chatting longer, once the difference is clear
    confidence: float  # of that difference (two-sided, Welch's t on user messages per conversation)
    verdict: str


class ExperimentList(msgspec.Struct):
    items: list[Experiment]
