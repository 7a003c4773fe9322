"""The admin dashboard (the seed's §9.2): active users, messages per minute, average response time,
error rate, AI cost and credits today, active subscriptions and revenue — each from what was recorded
(analytics events, the credit ledger, payments, the request counters), with a chart per figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from bostonia.analytics.store import AnalyticsStore
from bostonia.billing.store import BillingStore
from bostonia.config import BillingConfig
from bostonia.identity import Actor, require_admin
from bostonia.observability.metrics import RecentRequests

HISTORY_DAYS = 30


class Point(msgspec.Struct, frozen=True):
    label: str
    value: float


class DashboardFigures(msgspec.Struct, kw_only=True):
    generated_at: str
    currency: str
    active_users_today: int
    active_users_30d: int
    messages_per_minute: float  # over the last hour
    average_response_ms: float | None  # characters' replies today
    error_rate: float  # 5xx share of requests in the last hour
    requests_last_hour: int
    ai_cost_today_micros: int
    credits_charged_today: int
    credits_spent_today: int  # generations, unlocks and tips
    active_subscriptions: dict[str, int]
    revenue_today_cents: int
    revenue_30d_cents: int
    active_users_per_day: list[Point]
    messages_per_minute_series: list[Point]
    response_ms_per_hour: list[Point]
    errors_per_minute: list[Point]
    revenue_per_day: list[Point]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class AdminDashboard:
    def __init__(
        self, analytics: AnalyticsStore, billing: BillingStore, requests: RecentRequests, config: BillingConfig
    ) -> None:
        self.analytics = analytics
        self.billing = billing
        self.requests = requests
        self.config = config

    async def figures(self, *, actor: Actor, now: datetime | None = None) -> DashboardFigures:
        require_admin(actor)
        now = now or datetime.now(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        hour_ago = now - timedelta(hours=1)
        first_day = (midnight - timedelta(days=HISTORY_DAYS - 1)).date()
        days = [(first_day + timedelta(days=n)).isoformat() for n in range(HISTORY_DAYS)]

        per_day_users = await self.analytics.active_actors_per_day(days[0])
        minute_counts = await self.analytics.per_minute("message_sent", _iso(hour_ago))
        minutes = [(hour_ago + timedelta(minutes=n + 1)).strftime("%Y-%m-%dT%H:%M") for n in range(60)]
        hours = [(now - timedelta(hours=23 - n)).strftime("%Y-%m-%dT%H") for n in range(24)]
        response = await self.analytics.response_ms_per_hour(hours[0] + ":00:00.000Z")
        today_hours = [v for h, v in response.items() if h >= midnight.strftime("%Y-%m-%dT%H")]
        replies_today = sum(n for n, _ in today_hours)
        mean_ms = sum(n * ms for n, ms in today_hours) / replies_today if replies_today else None
        recent = self.requests.per_minute()
        total_requests = sum(r for _, r, _ in recent)
        total_errors = sum(e for _, _, e in recent)
        charged, cost = await self.billing.generation_spending(_iso(midnight))
        revenue = await self.billing.revenue_per_day(days[0])
        return DashboardFigures(
            generated_at=_iso(now),
            currency=self.config.currency,
            active_users_today=await self.analytics.active_actors(_iso(midnight)),
            active_users_30d=await self.analytics.active_actors(days[0]),
            messages_per_minute=round(sum(minute_counts.values()) / 60, 2),
            average_response_ms=round(mean_ms, 1) if mean_ms is not None else None,
            error_rate=round(total_errors / total_requests, 4) if total_requests else 0.0,
            requests_last_hour=total_requests,
            ai_cost_today_micros=cost,
            credits_charged_today=charged,
            credits_spent_today=await self.billing.credits_spent(_iso(midnight)),
            active_subscriptions=await self.billing.active_paid_subscriptions(),
            revenue_today_cents=revenue.get(days[-1], 0),
            revenue_30d_cents=sum(revenue.values()),
            active_users_per_day=[Point(d[5:], per_day_users.get(d, 0)) for d in days],
            messages_per_minute_series=[Point(m[11:], minute_counts.get(m, 0)) for m in minutes],
            response_ms_per_hour=[Point(h[11:] + "h", round(response.get(h, (0, 0.0))[1], 1)) for h in hours],
            errors_per_minute=[Point(datetime.fromtimestamp(t, UTC).strftime("%H:%M"), e) for t, _, e in recent],
            revenue_per_day=[Point(d[5:], revenue.get(d, 0) / 100) for d in days],
        )
