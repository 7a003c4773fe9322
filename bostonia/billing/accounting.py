"""Charging for generations: the policy the orchestrator calls around every generation.

The contract with the orchestration capability (which owns model routing, prices and usage rows):
prices are integer micro-units of the currency per 1k input and per 1k output tokens per model
(`cost_micros(model_id, tokens_in, tokens_out) -> int`), and an `AccountingPolicy` is called
before each generation (it may refuse with a domain error) and after each one that produced a reply
(never for a failed one). Until that capability is on main, `AccountingPolicy`, `Usage` and `PriceList`
here are structurally identical stand-ins: the real types can replace them without changing this policy.

`CreditAccounting` is the real policy. Before a generation it checks the plan allows the model route and
that the balance covers the reply's estimated cost on top of the estimates of the user's other replies in
flight (held in memory, one process serves an instance): parallel requests cannot together spend more
than the balance. After it, the actual cost is deducted with its ledger row in one transaction, the
hold is released, and the balance can never go below zero (the ledger's guard, and a CHECK constraint).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from bostonia.billing import store
from bostonia.billing.entitlements import EntitlementTable
from bostonia.config import BillingConfig
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id
from bostonia.errors import InsufficientCredits, PermissionDenied
from bostonia.identity import User


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """One generation's usage row, as the orchestrator records it."""

    user_id: str
    conversation_id: str | None
    message_id: str | None
    model_id: str
    tokens_in: int
    tokens_out: int
    cost_micros: int
    status: str = "complete"  # "complete" or "partial" (cancelled after some text): both produced a reply


class AccountingPolicy(Protocol):
    async def before_generation(self, user: User, model_id: str) -> None:
        """Raise a domain error (InsufficientCredits 402, PermissionDenied 403) to refuse the generation."""
        ...

    async def after_generation(self, user: User, usage: Usage) -> None:
        """Charge a generation that produced a reply."""
        ...


class PriceList(Protocol):
    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int: ...


class FreeModels:
    """Prices until the cost accounting provides real ones: local models cost nothing."""

    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int:
        return 0


class OpenPolicy:
    """Accounting that allows and charges nothing (unit tests of chat that are not about money)."""

    async def before_generation(self, user: User, model_id: str) -> None:
        return None

    async def after_generation(self, user: User, usage: Usage) -> None:
        return None


@dataclass
class _Hold:
    credits: int
    expires: float


@dataclass
class _Holds:
    """Estimated costs of a user's replies in flight, oldest first."""

    items: list[_Hold] = field(default_factory=list)

    def live(self, now: float) -> list[_Hold]:
        self.items = [hold for hold in self.items if hold.expires > now]
        return self.items


class CreditAccounting:
    def __init__(
        self,
        db: Database,
        entitlements: EntitlementTable,
        prices: PriceList,
        config: BillingConfig,
        *,
        max_tokens: int,
        route_of: Callable[[str], str] = lambda model_id: model_id,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.entitlements = entitlements
        self.prices = prices
        self.config = config
        self.max_tokens = max_tokens
        self.route_of = route_of  # the orchestration's route name of a model (the plans list routes)
        self.clock = clock
        self._holds: dict[str, _Holds] = {}
        self._lock = asyncio.Lock()

    def credits_for(self, cost_micros: int) -> int:
        """Credits charged for a cost: rounded up, so a priced reply never costs nothing."""
        return math.ceil(max(cost_micros, 0) / self.config.micros_per_credit)

    def estimate(self, model_id: str) -> int:
        return self.credits_for(self.prices.cost_micros(model_id, self.config.estimate_prompt_tokens, self.max_tokens))

    async def before_generation(self, user: User, model_id: str) -> None:
        entitlements = self.entitlements.of(user.tier)
        route = self.route_of(model_id)
        if not entitlements.allows_route(route):
            raise PermissionDenied(
                f"the {user.tier} plan does not include the model {route!r}; upgrade to use it",
                code="model_not_in_plan",
                details={"tier": user.tier, "route": route},
            )
        estimate = self.estimate(model_id)
        if estimate == 0:
            return
        async with self._lock:  # check and hold together: parallel requests see each other's holds
            holds = self._holds.setdefault(user.id, _Holds())
            held = sum(hold.credits for hold in holds.live(self.clock()))
            balance = await self.db.read(lambda conn: store.balance_in(conn, user.id))
            if balance - held < estimate:
                raise InsufficientCredits(
                    f"a reply from {model_id} needs up to {estimate} credits; you have {max(balance - held, 0)}"
                    " available",
                    details={"needed": estimate, "balance": balance, "held": held, "model": model_id},
                )
            holds.items.append(_Hold(estimate, self.clock() + self.config.reservation_seconds))

    async def after_generation(self, user: User, usage: Usage) -> None:
        self._release(user.id)
        credits = self.credits_for(usage.cost_micros)
        if credits == 0:
            return
        details = {
            "model": usage.model_id,
            "conversation_id": usage.conversation_id,
            "message_id": usage.message_id,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_micros": usage.cost_micros,
            "status": usage.status,
        }

        def charge(conn: sqlite3.Connection) -> None:
            # The reply exists already: a balance spent meanwhile (an unlock) is charged down to zero.
            store.change_credits_in(
                conn, user.id, -credits, "spend", reference=f"generation:{new_id()}", details=details, clamp=True
            )

        await self.db.write(charge)

    async def generation_failed(self, user: User, model_id: str) -> None:
        """Optional: a generation that failed frees its hold at once (else it lapses after
        `[billing] reservation_seconds`). Nothing is charged."""
        self._release(user.id)

    def _release(self, user_id: str) -> None:
        holds = self._holds.get(user_id)
        if holds is None:
            return
        live = holds.live(self.clock())
        if live:
            live.pop(0)
        if not live:
            self._holds.pop(user_id, None)
