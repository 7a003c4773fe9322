"""Plans, credits and payments over JSON, and the payment provider's webhook."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody

from bostonia.billing.deps import Billing, Payments
from bostonia.billing.schemas import (
    CreditBalance,
    CreditPurchaseRequest,
    LedgerPage,
    Offers,
    PaymentHistory,
    Plan,
    PortalRequest,
    Redirect,
    SubscribeRequest,
    WebhookReceipt,
)
from bostonia.http.auth import public_base_url
from bostonia.http.bodies import optional_body
from bostonia.http.deps import Config, CurrentUser


class PaymentController(Controller):
    path = "/api/v1/payments"
    tags = ["payments"]

    @get("/plans")
    async def plans(self, billing: Billing) -> Offers:
        """The tiers (what each includes, its monthly price) and the credit packs."""
        return billing.offers()

    @get("/subscription")
    async def subscription(self, user: CurrentUser, billing: Billing) -> Plan:
        """The plan in force, what it includes, and the subscription behind it."""
        return await billing.plan(user)

    @post("/subscribe", status_code=201)
    async def subscribe(
        self, data: JSONBody[SubscribeRequest], user: CurrentUser, payments: Payments, config: Config, request: Request
    ) -> Redirect:
        """A checkout for a paid tier: send the browser to `url`. (404 `payments_disabled` without a provider.)"""
        return await payments.subscribe(user, data, public_base_url(request, config.server.public_url))

    @post("/cancel", status_code=200)
    async def cancel(self, user: CurrentUser, payments: Payments, billing: Billing) -> Plan:
        """Cancel the paid plan at the end of the period already paid for."""
        await payments.cancel(user)
        return await billing.plan(user)

    @post("/credits", status_code=201)
    async def buy_credits(
        self,
        data: JSONBody[CreditPurchaseRequest],
        user: CurrentUser,
        payments: Payments,
        config: Config,
        request: Request,
    ) -> Redirect:
        """A checkout for a credit pack (`pack`: a name from `GET /payments/plans`)."""
        return await payments.buy_credits(user, data, public_base_url(request, config.server.public_url))

    @post("/portal", status_code=201)
    async def portal(self, user: CurrentUser, payments: Payments, config: Config, request: Request) -> Redirect:
        """A link to the provider's customer portal (payment methods, invoices, plan changes)."""
        data = await optional_body(request, PortalRequest)
        return await payments.portal(user, data, public_base_url(request, config.server.public_url))

    @get("/history")
    async def history(self, user: CurrentUser, payments: Payments) -> PaymentHistory:
        """The caller's payments (subscription invoices, credit packs), newest first."""
        return await payments.history(user)

    @post("/webhook", status_code=200, opt={"exclude_from_csrf": True})
    async def webhook(self, request: Request[Any, Any, Any], payments: Payments) -> WebhookReceipt:
        """The payment provider's events. The signature is verified (400 otherwise, nothing changes); an
        event id already seen changes nothing."""
        return await payments.handle_webhook(await request.body(), dict(request.headers))


class CreditController(Controller):
    path = "/api/v1/credits"
    tags = ["payments"]

    @get("/")
    async def balance(self, user: CurrentUser, billing: Billing) -> CreditBalance:
        return await billing.balance(user)

    @get("/ledger")
    async def ledger(self, user: CurrentUser, billing: Billing, limit: FromQuery[int] = 100) -> LedgerPage:
        """Every change of the caller's balance, newest first, each with the balance it left."""
        return LedgerPage(await billing.ledger(user, limit=limit))
