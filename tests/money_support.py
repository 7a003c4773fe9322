"""Helpers the money tests share: prices for the scripted model, and reading the ledger back."""

from __future__ import annotations

from typing import Any

from bostonia.app import Services
from bostonia.billing.store import change_credits_in


class FlatPrices:
    """Every reply of `model_id` costs `micros` (other models are free): the cost accounting's shape."""

    def __init__(self, micros: int, model_id: str = "scripted") -> None:
        self.micros = micros
        self.model_id = model_id
        self.calls: list[tuple[str, int, int]] = []

    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int:
        self.calls.append((model_id, tokens_in, tokens_out))
        return self.micros if model_id == self.model_id else 0


def price_replies(services: Services, micros: int) -> FlatPrices:
    """Make replies cost money: the policy's estimate and the reply's charge use the same prices."""
    prices = FlatPrices(micros)
    services.accounting.prices = prices
    services.replies.meter.prices = prices
    return prices


def ledger_rows(services: Services, user_id: str) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute(
            "select amount, kind, reference, balance_after from credit_transactions where user_id = ?"
            " order by created_at, rowid",
            (user_id,),
        ).fetchall()
        return [dict(zip(("amount", "kind", "reference", "balance_after"), row, strict=True)) for row in rows]

    return services.db.read_sync(read)


def balance_of(services: Services, user_id: str) -> int:
    return int(
        services.db.read_sync(
            lambda conn: conn.execute("select balance from credit_balances where user_id = ?", (user_id,)).fetchone()[0]
        )
    )


def assert_ledger_audits_balance(services: Services, user_id: str) -> None:
    """The ledger alone explains the balance: its sum, and each row's running balance."""
    running = 0
    for row in ledger_rows(services, user_id):
        running += row["amount"]
        assert row["balance_after"] == running, row
        assert running >= 0
    assert running == balance_of(services, user_id)


def grant(services: Services, user_id: str, credits: int) -> None:
    """Credits for a test account, through the ledger (the CLI's path is tested on its own)."""
    services.db.write_sync(lambda conn: change_credits_in(conn, user_id, credits, "grant", details={"reason": "test"}))
