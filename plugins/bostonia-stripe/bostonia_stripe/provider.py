"""Bostonia's payment provider on Stripe, with the official SDK (`stripe.StripeClient`).

The SDK blocks on the network, so every call runs in a worker thread. Webhook signatures are checked with
the SDK's own `Webhook.construct_event` against `STRIPE_WEBHOOK_SECRET` (bad, missing or older than the
tolerance: `InvalidInput`, which Bostonia answers with 400 and no change). Creators' Connect accounts
(`stripe_connect_id`) live in this plugin's own table.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import stripe

from bostonia.plugin_api import (
    CheckoutCustomer,
    CheckoutSession,
    ConfigError,
    Database,
    InvalidInput,
    PaymentEvent,
    PayoutOrder,
    Unavailable,
    sqlite3,
)
from bostonia_stripe.events import translate
from bostonia_stripe.settings import StripeSettings

T = TypeVar("T")
NAME = "stripe"


def _secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise ConfigError(f"the Stripe plugin needs {what} in the environment variable {env_name}")
    return value


class StripeProvider:
    name = NAME

    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        self.db: Database | None = None  # set at start-up (the plugin's Connect accounts table)
        self._client: stripe.StripeClient | None = None

    def check_configured(self) -> None:
        _secret(self.settings.api_key_env, "the secret API key")
        _secret(self.settings.webhook_secret_env, "the webhook signing secret")

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            self._client = stripe.StripeClient(
                _secret(self.settings.api_key_env, "the secret API key"),
                base_addresses={"api": self.settings.api_base or stripe.api_base},
                http_client=stripe.RequestsClient(timeout=self.settings.timeout_seconds),
                max_network_retries=1,
            )
        return self._client

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except stripe.InvalidRequestError as exc:
            raise InvalidInput(
                f"Stripe refused the request: {exc.user_message or exc}", code="stripe_refused"
            ) from None
        except stripe.StripeError as exc:
            raise Unavailable(
                f"Stripe could not be reached: {exc.user_message or exc}", code="stripe_unavailable"
            ) from None

    # -- checkouts ---------------------------------------------------------------------------------------

    def _customer_params(self, customer: CheckoutCustomer) -> dict[str, Any]:
        if customer.customer_id:
            return {"customer": customer.customer_id}
        return {"customer_email": customer.email}

    async def subscription_checkout(
        self,
        customer: CheckoutCustomer,
        *,
        tier: str,
        price_cents: int,
        currency: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        price_id = self.settings.price_ids.get(tier)
        line: dict[str, Any] = (
            {"price": price_id, "quantity": 1}
            if price_id
            else {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": price_cents,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": f"Bostonia {tier.capitalize()}"},
                },
            }
        )
        metadata = {"user_id": customer.user_id, "tier": tier}
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [line],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": customer.user_id,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            **self._customer_params(customer),
        }
        session = await self._call(lambda: self.client.v1.checkout.sessions.create(params))  # type: ignore[arg-type]
        customer_id = _str(getattr(session, "customer", None))
        return CheckoutSession(id=session.id, url=str(session.url), customer_id=customer_id)

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
    ) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": price_cents,
                        "product_data": {"name": f"{credits} Bostonia credits"},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": customer.user_id,
            "metadata": {"user_id": customer.user_id, "pack": pack, "credits": str(credits)},
            **self._customer_params(customer),
        }
        if not customer.customer_id:
            params["customer_creation"] = "always"  # so the portal can show the receipt later
        session = await self._call(lambda: self.client.v1.checkout.sessions.create(params))  # type: ignore[arg-type]
        customer_id = _str(getattr(session, "customer", None))
        return CheckoutSession(id=session.id, url=str(session.url), customer_id=customer_id)

    async def cancel_subscription(self, subscription_id: str) -> None:
        await self._call(lambda: self.client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": True}))

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        portal = await self._call(
            lambda: self.client.v1.billing_portal.sessions.create({"customer": customer_id, "return_url": return_url})
        )
        return str(portal.url)

    # -- webhooks ----------------------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        if not signature:
            raise InvalidInput("the Stripe-Signature header is missing", code="bad_signature")
        secret = _secret(self.settings.webhook_secret_env, "the webhook signing secret")
        try:
            stripe.Webhook.construct_event(
                payload, signature, secret, tolerance=self.settings.webhook_tolerance_seconds
            )
        except stripe.SignatureVerificationError:
            raise InvalidInput(
                "the webhook's signature does not verify (or is too old)", code="bad_signature"
            ) from None
        except ValueError:
            raise InvalidInput("the webhook's body is not a Stripe event", code="bad_event") from None
        try:
            body = json.loads(payload)
        except ValueError:
            raise InvalidInput("the webhook's body is not JSON", code="bad_event") from None
        if not isinstance(body, dict) or not body.get("id"):
            raise InvalidInput("the webhook's body is not a Stripe event", code="bad_event")
        return translate(body)

    # -- Connect payouts ---------------------------------------------------------------------------------

    def _database(self) -> Database:
        if self.db is None:
            raise Unavailable("the Stripe plugin has not started", code="stripe_not_started")
        return self.db

    async def connect_id(self, creator_id: str) -> str | None:
        return await self._database().fetchval(
            "select stripe_connect_id from stripe_connect_accounts where user_id = ?", (creator_id,)
        )

    async def payout_account_link(self, creator_id: str, email: str, return_url: str) -> str:
        account_id = await self.connect_id(creator_id)
        if account_id is None:
            account = await self._call(
                lambda: self.client.v1.accounts.create(
                    {
                        "type": "express",
                        "country": self.settings.connect_country,
                        "email": email,
                        "capabilities": {"transfers": {"requested": True}},
                        "metadata": {"bostonia_user_id": creator_id},
                    }
                )
            )
            account_id = str(account.id)

            def save(conn: sqlite3.Connection) -> None:
                conn.execute(
                    "insert or replace into stripe_connect_accounts (user_id, stripe_connect_id) values (?, ?)",
                    (creator_id, account_id),
                )

            await self._database().write(save)
        link = await self._call(
            lambda: self.client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": return_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return str(link.url)

    async def send_payout(self, order: PayoutOrder) -> str:
        account_id = await self.connect_id(order.creator_id)
        if account_id is None:
            raise InvalidInput("the creator has not connected a Stripe account yet", code="no_payout_account")
        transfer = await self._call(
            lambda: self.client.v1.transfers.create(
                {
                    "amount": order.amount_cents,
                    "currency": order.currency,
                    "destination": account_id,
                    "metadata": {"payout_id": order.payout_id},
                },
                {"idempotency_key": f"bostonia-payout-{order.payout_id}"},
            )
        )
        return str(transfer.id)


def _str(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None
