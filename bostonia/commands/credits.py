"""`bostonia credits ...`: credit balances from the shell, as the operator (grants are audit-logged and
written to the account's ledger)."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Annotated

import typer

from bostonia.commands.common import OPERATOR, run_with_services

if TYPE_CHECKING:
    from bostonia.app import Services
    from bostonia.billing.schemas import CreditBalance, LedgerEntry

credits_app = typer.Typer(help="Credit balances and their ledger.", no_args_is_help=True)
EMAIL = typer.Argument(help="The account's email address (or its id).")
LEDGER_FIELDS = ("created_at", "amount", "balance_after", "kind", "reference", "details", "id")


@credits_app.command("grant")
def credits_grant(
    email: Annotated[str, EMAIL],
    credits: Annotated[int, typer.Argument(help="How many credits to add (1 or more).")],
    note: Annotated[str, typer.Option(help="Why, for the ledger and the audit log.")] = "",
) -> None:
    """Add credits to an account."""

    async def run(services: Services) -> tuple[str, LedgerEntry]:
        user = await services.users.find(email, actor=OPERATOR)
        return user.email, await services.billing.grant(user.id, credits, actor=OPERATOR, note=note)

    who, entry = run_with_services(run)
    typer.echo(f"granted {entry.amount} credits to {who}: balance {entry.balance_after}")


@credits_app.command("show")
def credits_show(email: Annotated[str, EMAIL]) -> None:
    """Show an account's balance and lifetime totals."""

    async def run(services: Services) -> tuple[str, CreditBalance]:
        user = await services.users.find(email, actor=OPERATOR)
        return user.email, await services.billing.account_balance(user.id, actor=OPERATOR)

    who, balance = run_with_services(run)
    typer.echo(f"{who}: balance {balance.balance}")
    typer.echo(
        f"lifetime: purchased {balance.lifetime_purchased}, received {balance.lifetime_earned},"
        f" spent {balance.lifetime_spent}"
    )


@credits_app.command("ledger")
def credits_ledger(
    email: Annotated[str, EMAIL],
    as_csv: Annotated[bool, typer.Option("--csv", help="Comma-separated values with a header row.")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the newest N rows.")] = None,
) -> None:
    """Every change of an account's balance, newest first (each with the balance it left)."""

    async def run(services: Services) -> list[LedgerEntry]:
        user = await services.users.find(email, actor=OPERATOR)
        return await services.billing.account_ledger(user.id, actor=OPERATOR, limit=limit)

    entries = run_with_services(run)
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(LEDGER_FIELDS)
        for e in entries:
            writer.writerow(
                [e.created_at, e.amount, e.balance_after, e.kind, e.reference or "", json.dumps(e.details), e.id]
            )
        typer.echo(out.getvalue(), nl=False)
        return
    if not entries:
        typer.echo("no ledger entries")
    for e in entries:
        reason = e.details.get("reason") or e.details.get("model") or ""
        typer.echo(f"{e.created_at[:19]}  {e.amount:+8d}  -> {e.balance_after:<8d} {e.kind:<10} {reason}")
