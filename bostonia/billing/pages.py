"""The billing page: the plan and what it includes, the credit balance and its ledger, payments, and the
buttons that start a provider's checkout (when the server takes payments)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from bostonia.billing.deps import Billing, Payments
from bostonia.billing.payments import PaymentService
from bostonia.billing.schemas import CreditPurchaseRequest, PortalRequest, SubscribeRequest
from bostonia.billing.service import BillingService
from bostonia.errors import BostoniaError, InvalidInput
from bostonia.http.auth import public_base_url
from bostonia.http.deps import Config, CurrentUser
from bostonia.http.errors import status_for
from bostonia.identity import User
from bostonia.ui.forms import Form

NOTICES = {
    "success": "Thank you! Your purchase shows here as soon as the payment is confirmed.",
    "cancelled": "The checkout was cancelled; nothing was charged.",
}


async def billing_page(
    user: User,
    billing: BillingService,
    payments: PaymentService,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Template:
    return Template(
        "billing.html",
        status_code=status,
        context={
            "user": user,
            "plan": await billing.plan(user),
            "offers": billing.offers(),
            "balance": await billing.balance(user),
            "ledger": await billing.ledger(user, limit=50),
            "payments": (await payments.history(user)).items,
            "error": error,
            "notice": NOTICES.get(notice or ""),
        },
    )


class BillingPages(Controller):
    include_in_schema = False

    @get("/billing")
    async def page(
        self, user: CurrentUser, billing: Billing, payments: Payments, checkout: FromQuery[str | None] = None
    ) -> Template:
        return await billing_page(user, billing, payments, notice=checkout)

    @post("/billing/{action:str}")
    async def act(
        self,
        action: FromPath[str],
        data: Form,
        user: CurrentUser,
        billing: Billing,
        payments: Payments,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        base = public_base_url(request, config.server.public_url)
        try:
            if action == "subscribe":
                target = await payments.subscribe(
                    user, _convert({"tier": data.get("tier", "")}, SubscribeRequest), base
                )
            elif action == "credits":
                pack = _convert({"pack": data.get("pack", "")}, CreditPurchaseRequest)
                target = await payments.buy_credits(user, pack, base)
            elif action == "portal":
                target = await payments.portal(user, PortalRequest(), base)
            elif action == "cancel":
                await payments.cancel(user)
                return Redirect("/billing", status_code=303)
            else:
                raise InvalidInput(f"no billing action {action!r}")
        except BostoniaError as exc:
            return await billing_page(user, billing, payments, error=exc.message, status=status_for(exc))
        return Redirect(target.url, status_code=303)


def _convert(data: dict[str, Any], schema: type[Any]) -> Any:
    try:
        return msgspec.convert(data, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid form input: {exc}") from None
