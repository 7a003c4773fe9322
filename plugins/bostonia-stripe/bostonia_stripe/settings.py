"""The plugin's `[plugins.stripe]` table. Keys are never in it: it names the environment variables."""

from __future__ import annotations

from typing import Annotated

import msgspec


class StripeSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # NAMES of the environment variables with the secret API key (sk_...) and the webhook signing secret.
    api_key_env: str = "STRIPE_API_KEY"
    webhook_secret_env: str = "STRIPE_WEBHOOK_SECRET"
    # Where the Stripe API is; "" = the SDK's default (`stripe.api_base`). Tests point it at a local server.
    api_base: str = ""
    # Webhooks signed longer ago than this are refused (replay protection), in seconds.
    webhook_tolerance_seconds: Annotated[int, msgspec.Meta(ge=1)] = 300
    # Stripe price ids per tier (price_...); a tier without one is sold at `[tiers.<tier>] price_cents` monthly.
    price_ids: dict[str, str] = msgspec.field(default_factory=dict)
    # Connected accounts for creator payouts are Express accounts in this country.
    connect_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] = "US"
    # Network timeout for API calls, in seconds.
    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=120)] = 20
