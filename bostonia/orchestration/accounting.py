"""Cost accounting: what a generation cost, and the policy that may refuse or charge it.

This module is the contract between AI orchestration and payments (credits, entitlements):

- **Prices** live in `bostonia.toml`, per model, in integer micro-units (a millionth of the currency
  unit: 1,000,000 = 1.00) per 1,000 tokens, never floats. Models not listed are free::

      [models.prices."gpt-4o-mini"]
      input_per_1k = 150        # 0.00015 per 1k prompt tokens
      output_per_1k = 600

  `Prices.cost_micros(model_id, tokens_in, tokens_out)` rounds each side up to a whole micro-unit.

- **Usage**: one `Usage` record per generation attempt (user, conversation, message, model, provider,
  tokens, cost, status `ok` | `failed` | `fallback`, time) in the `ai_usage` table (`UsageStore`), with
  per-user-per-day and per-model aggregates for admins.

- **`AccountingPolicy`**: the orchestrator calls it around every generation, for each model it tries:

      await policy.before_generation(user, model_id)   # may raise (InsufficientCredits -> 402) to refuse
      ... the model generates ...
      await policy.after_generation(user, usage)       # only for a generation that produced a reply

  A refusal passes over that model: the next one of the route is asked (with its own
  `before_generation`); when every model refused or failed, the first refusal is what the caller gets.
  The chat asks before it stores the user's message (`Orchestrator.admit`), so a refused message is not
  stored and the answer is the refusal itself (402, 403).

  A policy that reserves something in `before_generation` (an estimate held against the balance) may
  define `async def generation_failed(user, model_id)`: it is called for every admitted generation that
  will not be charged — the model failed (the next one is asked anew), the reply was withdrawn or empty,
  the request went away — so the reservation is freed at once.
  `after_generation` receives the `ok` usage record of the model that served the reply (a failed
  attempt, or one a fallback replaced, is never charged); an exception in it is logged and does not
  undo the stored reply. The composition root injects the policy (`NoAccounting` by default; the
  payments capability provides the real one): `build_services(..., accounting=policy)`, or, for a policy
  built from services made there, `orchestrator.accounting = policy` before the app starts.

The chat, `/api/v1/ai/generate` and the OpenAI-compatible `/v1` all go through the orchestrator, so
every generation is accounted the same way (`Usage.source` says which: chat, api, generate).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import msgspec

from bostonia.config import ModelPrice
from bostonia.identity import User

UsageStatus = Literal["ok", "failed", "fallback"]
UsageSource = Literal["chat", "api", "generate", "test"]
MICROS = 1_000_000  # micro-units in one currency unit


class Usage(msgspec.Struct, kw_only=True, frozen=True):
    """One generation attempt by one model (an `ai_usage` row; `id` and `created_at` are set when stored)."""

    user_id: str | None
    conversation_id: str | None
    message_id: str | None
    model_id: str
    tokens_in: int
    tokens_out: int
    cost_micros: int
    provider: str = "local"
    status: UsageStatus = "ok"
    source: UsageSource = "chat"
    error: str | None = None
    id: str = ""
    created_at: str = ""


@runtime_checkable
class AccountingPolicy(Protocol):
    """Refuses or charges generations (see the module docstring for when each is called)."""

    async def before_generation(self, user: User, model_id: str) -> None:
        """Raise a domain error (`InsufficientCredits`, `PermissionDenied`, ...) to refuse `user` a generation
        on `model_id`."""
        ...

    async def after_generation(self, user: User, usage: Usage) -> None:
        """`usage` (status `ok`) produced a reply for `user`: charge it."""
        ...


class NoAccounting:
    """The default policy: nothing is refused, nothing is charged (usage is still recorded)."""

    async def before_generation(self, user: User, model_id: str) -> None:
        return None

    async def after_generation(self, user: User, usage: Usage) -> None:
        return None


def _per_1k(tokens: int, price: int) -> int:
    return -(-tokens * price // 1000)  # ceiling: a partial thousand costs its share, rounded up


class Prices:
    """Per-model prices from `[models.prices]`."""

    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    def of(self, model_id: str) -> ModelPrice:
        return self._prices.get(model_id, ModelPrice())

    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int:
        """What `tokens_in` prompt and `tokens_out` reply tokens on `model_id` cost, in micro-units."""
        price = self.of(model_id)
        return _per_1k(max(0, tokens_in), price.input_per_1k) + _per_1k(max(0, tokens_out), price.output_per_1k)


def format_micros(micros: int) -> str:
    """1234567 -> '1.234567' (for admin pages; amounts stay integers everywhere else)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS)
    return f"{sign}{whole}.{fraction:06d}"
