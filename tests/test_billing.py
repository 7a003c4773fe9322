"""Plans and credits without any payment provider (a free community): the ledger, the CLI, the accounting
policy around real chat replies, parallel spending, monthly grants, tier changes and stale tokens."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner

from bostonia.app import Services
from bostonia.billing.accounting import CreditAccounting, Usage
from bostonia.billing.entitlements import EntitlementTable
from bostonia.cli import app as cli
from bostonia.config import BillingConfig, RateLimitConfig, TierEntitlements, TiersConfig
from bostonia.db import sqlite3
from bostonia.errors import InsufficientCredits, PermissionDenied
from bostonia.identity import User
from tests.fakes import ScriptedModel
from tests.helpers import bearer, error_of, new_conversation, register
from tests.money_support import assert_ledger_audits_balance, balance_of, grant, ledger_rows, price_replies


def test_new_accounts_start_free_with_an_empty_balance(client: TestClient[Any], alice: dict[str, Any]) -> None:
    me = client.get("/api/v1/users/me", headers=bearer(alice)).json()
    assert me["tier"] == "free"
    assert me["credits"]["balance"] == 0
    plan = client.get("/api/v1/payments/subscription", headers=bearer(alice)).json()
    assert plan["tier"] == "free" and plan["payments_enabled"] is False
    assert plan["entitlements"]["rate_limit_per_minute"] == 100_000  # the tests' generous [rate_limits]
    assert client.get("/api/v1/payments/history", headers=bearer(alice)).json() == {"items": []}


def test_cli_grants_show_in_users_me_and_the_ledger(tmp_path: Any) -> None:
    runner = CliRunner()
    data = str(tmp_path / "data")
    assert (
        runner.invoke(
            cli, ["--data-dir", data, "user", "create", "payer@example.com", "--password", "x" * 12]
        ).exit_code
        == 0
    )
    granted = runner.invoke(cli, ["--data-dir", data, "credits", "grant", "payer@example.com", "250", "--note", "hi"])
    assert granted.exit_code == 0, granted.output
    assert "balance 250" in granted.output
    runner.invoke(cli, ["--data-dir", data, "credits", "grant", "payer@example.com", "5"])
    shown = runner.invoke(cli, ["--data-dir", data, "credits", "show", "payer@example.com"])
    assert "balance 255" in shown.output and "received 255" in shown.output
    ledger = runner.invoke(cli, ["--data-dir", data, "credits", "ledger", "payer@example.com", "--csv"])
    rows = list(csv.DictReader(io.StringIO(ledger.output)))
    assert [(r["amount"], r["balance_after"], r["kind"]) for r in rows] == [
        ("5", "255", "grant"),
        ("250", "250", "grant"),
    ]
    assert '"note": "hi"' in rows[1]["details"]
    refused = runner.invoke(cli, ["--data-dir", data, "credits", "grant", "payer@example.com", "0"])
    assert refused.exit_code == 1 and "between 1" in refused.output
    missing = runner.invoke(cli, ["--data-dir", data, "credits", "grant", "nobody@example.com", "5"])
    assert missing.exit_code == 1


def test_the_ledger_is_append_only(services: Services, client: TestClient[Any], bob: dict[str, Any]) -> None:
    alice = bob  # not the admin: the last admin cannot delete their account
    grant(services, alice["user"]["id"], 10)
    for statement in ("update credit_transactions set amount = 1000", "delete from credit_transactions"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            services.db.write_sync(lambda conn, sql=statement: conn.execute(sql))
    with pytest.raises(sqlite3.IntegrityError):  # and a balance cannot go below zero, whoever writes it
        services.db.write_sync(lambda conn: conn.execute("update credit_balances set balance = -1"))
    assert_ledger_audits_balance(services, alice["user"]["id"])
    # Deleting the account takes its ledger along (the only delete the ledger allows).
    assert (
        client.request(
            "DELETE", "/api/v1/users/me", json={"password": "correct horse battery"}, headers=bearer(alice)
        ).status_code
        == 204
    )
    assert ledger_rows(services, alice["user"]["id"]) == []


def test_priced_replies_are_charged_with_their_ledger_rows(
    services: Services, client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    price_replies(services, 40_000)  # 4 credits a reply at 10,000 micro-units a credit
    conversation = new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    refused = client.post(url, json={"content": "hello"}, headers=bearer(alice))
    assert refused.status_code == 402
    assert error_of(refused)["code"] == "insufficient_credits"
    assert [m["role"] for m in client.get(url, headers=bearer(alice)).json()["items"]] == [
        "assistant"
    ]  # nothing stored
    grant(services, alice["user"]["id"], 10)
    assert client.post(url, json={"content": "hello"}, headers=bearer(alice)).status_code == 201
    model.enqueue(RuntimeError("the model broke"))
    failed = client.post(url, json={"content": "again"}, headers=bearer(alice))
    assert failed.status_code >= 500 or failed.json().get("assistant_message") is None
    assert balance_of(services, alice["user"]["id"]) == 6  # the failed reply cost nothing
    assert client.post(url, json={"content": "once more"}, headers=bearer(alice)).status_code == 201
    assert client.post(url, json={"content": "and again"}, headers=bearer(alice)).status_code == 402
    rows = ledger_rows(services, alice["user"]["id"])
    assert [r["amount"] for r in rows] == [10, -4, -4]
    assert all(r["reference"].startswith("generation:") for r in rows[1:])
    assert_ledger_audits_balance(services, alice["user"]["id"])
    me = client.get("/api/v1/users/me", headers=bearer(alice)).json()["credits"]
    assert me == {**me, "balance": 2, "lifetime_spent": 8, "lifetime_earned": 10, "lifetime_purchased": 0}


def test_parallel_replies_never_spend_more_than_the_balance(
    services: Services, live: httpx.Client, model: ScriptedModel
) -> None:
    account = register(live, "racer@example.com")
    price_replies(services, 40_000)
    grant(services, account["user"]["id"], 10)  # room for two replies of 4 credits, not three
    conversations = [new_conversation(live, account) for _ in range(6)]
    gate = model.hold()  # admitted replies wait, so all six requests are in flight together

    def send(conversation: dict[str, Any]) -> int:
        url = f"/api/v1/conversations/{conversation['id']}/messages"
        return live.post(url, json={"content": "hi"}, headers=bearer(account), timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(send, c) for c in conversations]
        deadline = time.monotonic() + 30
        while sum(f.done() for f in futures) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # the refused four answer at once; the admitted two wait at the gate
        gate.set()
        statuses = sorted(f.result() for f in futures)
    assert statuses == [201, 201, 402, 402, 402, 402]
    assert balance_of(services, account["user"]["id"]) == 2
    assert_ledger_audits_balance(services, account["user"]["id"])


def test_parallel_tips_never_overdraw(services: Services, live: httpx.Client) -> None:
    creator = register(live, "maker@example.com")
    fan = register(live, "fan@example.com")
    character = live.post(
        "/api/v1/characters", json={"name": "Tipped", "visibility": "public"}, headers=bearer(creator)
    ).json()
    grant(services, fan["user"]["id"], 100)

    def tip(_: int) -> int:
        return live.post(
            f"/api/v1/characters/{character['id']}/tip", json={"credits": 30}, headers=bearer(fan)
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(tip, range(8)))
    assert statuses == [201, 201, 201, 402, 402, 402, 402, 402]
    assert balance_of(services, fan["user"]["id"]) == 10
    assert_ledger_audits_balance(services, fan["user"]["id"])


def _policy(services: Services, **tiers: TierEntitlements) -> CreditAccounting:
    entitlements = EntitlementTable(TiersConfig(**tiers), RateLimitConfig())
    return CreditAccounting(services.db, entitlements, FlatPricesForPolicy(), BillingConfig(), max_tokens=300)


class FlatPricesForPolicy:
    def cost_micros(self, model_id: str, tokens_in: int, tokens_out: int) -> int:
        return 25_000 if model_id == "big" else 0


def _user(account: dict[str, Any], tier: str = "free") -> User:
    return User(**{**account["user"], "tier": tier})


def test_the_policy_checks_the_plan_and_the_balance(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    policy = _policy(services, free=TierEntitlements(model_routes=["small"]))
    user = _user(alice)
    asyncio.run(policy.before_generation(user, "small"))  # in the plan, free: allowed with no credits
    with pytest.raises(PermissionDenied) as refused:
        asyncio.run(policy.before_generation(user, "big"))
    assert refused.value.code == "model_not_in_plan"
    pro = _user(alice, "pro")
    with pytest.raises(InsufficientCredits):
        asyncio.run(policy.before_generation(pro, "big"))  # a reply of "big" is estimated at 3 credits
    grant(services, alice["user"]["id"], 5)
    asyncio.run(policy.before_generation(pro, "big"))  # holds 3 of 5
    with pytest.raises(InsufficientCredits):
        asyncio.run(policy.before_generation(pro, "big"))  # 2 left unheld
    usage = Usage(
        user_id=pro.id,
        conversation_id=None,
        message_id=None,
        model_id="big",
        tokens_in=10,
        tokens_out=5,
        cost_micros=25_000,
    )
    asyncio.run(policy.after_generation(pro, usage))  # 3 credits (2.5 rounded up); the hold is released
    assert balance_of(services, alice["user"]["id"]) == 2
    asyncio.run(policy.after_generation(pro, usage))  # a charge after the fact never overdraws: 2 taken, 1 uncollected
    assert balance_of(services, alice["user"]["id"]) == 0
    assert_ledger_audits_balance(services, alice["user"]["id"])


def test_monthly_credits_are_granted_once_a_month(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    admin = register(client, "boss@example.com")  # not the first account: alice is the admin
    assert (
        client.patch(
            f"/api/v1/admin/users/{admin['user']['id']}", json={"tier": "plus"}, headers=bearer(alice)
        ).status_code
        == 200
    )
    # This month's grant first (the server's housekeeping may make it at any moment; once made, never again),
    # then months far from today's.
    asyncio.run(services.billing.grant_monthly_credits())
    start = balance_of(services, admin["user"]["id"])
    march = datetime(2031, 3, 5, tzinfo=UTC)
    assert asyncio.run(services.billing.grant_monthly_credits(now=march)) == 1
    assert asyncio.run(services.billing.grant_monthly_credits(now=march)) == 0
    assert balance_of(services, admin["user"]["id"]) == start + 500  # [tiers.plus] monthly_credits
    assert asyncio.run(services.billing.grant_monthly_credits(now=datetime(2031, 4, 1, tzinfo=UTC))) == 1
    assert balance_of(services, admin["user"]["id"]) == start + 1000
    assert balance_of(services, alice["user"]["id"]) == 0  # the free plan grants nothing by default


def test_a_tier_change_applies_to_the_old_token_at_once(client: TestClient[Any], alice: dict[str, Any]) -> None:
    bob = register(client, "bob@example.com")
    assert client.get("/api/v1/users/me", headers=bearer(bob)).json()["tier"] == "free"
    client.patch(f"/api/v1/admin/users/{bob['user']['id']}", json={"tier": "pro"}, headers=bearer(alice))
    # The token still says "free": the user (and the plan) is read from the database on every request.
    assert client.get("/api/v1/users/me", headers=bearer(bob)).json()["tier"] == "pro"
    plan = client.get("/api/v1/payments/subscription", headers=bearer(bob)).json()
    assert plan["entitlements"]["premium_access"] is True and plan["subscription"]["provider"] == "admin"


def test_checkouts_say_payments_are_off_without_a_provider(client: TestClient[Any], alice: dict[str, Any]) -> None:
    for path, body in (
        ("subscribe", {"tier": "plus"}),
        ("credits", {"pack": "small"}),
        ("cancel", None),
        ("portal", None),
        ("webhook", None),
    ):
        response = client.post(f"/api/v1/payments/{path}", json=body, headers=bearer(alice))
        assert response.status_code == 404, (path, response.text)
        assert error_of(response)["code"] == "payments_disabled"
    offers = client.get("/api/v1/payments/plans").json()
    assert offers["payments_enabled"] is False and [t["tier"] for t in offers["tiers"]] == [
        "free",
        "plus",
        "pro",
        "creator",
    ]
