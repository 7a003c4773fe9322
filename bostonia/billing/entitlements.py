"""What each plan tier includes, from `[tiers.<tier>]` and `[rate_limits]` of `bostonia.toml`."""

from __future__ import annotations

from bostonia.billing.schemas import Entitlements
from bostonia.config import RateLimitConfig, TiersConfig
from bostonia.identity import TIERS, Tier


class EntitlementTable:
    def __init__(self, tiers: TiersConfig, rate_limits: RateLimitConfig) -> None:
        self._by_tier: dict[str, Entitlements] = {
            tier: Entitlements(
                tier=tier,
                rate_limit_per_minute=int(getattr(rate_limits, tier)),
                model_routes=list(getattr(tiers, tier).model_routes),
                monthly_credits=getattr(tiers, tier).monthly_credits,
                premium_access=getattr(tiers, tier).premium_access,
                price_cents=getattr(tiers, tier).price_cents,
            )
            for tier in TIERS
        }

    def of(self, tier: Tier | str) -> Entitlements:
        found = self._by_tier.get(tier)
        return found if found is not None else self._by_tier["free"]

    def all(self) -> list[Entitlements]:
        return [self._by_tier[tier] for tier in TIERS]
