"""A paid community end to end, through the Stripe plugin: checkouts and the portal against a local server
that answers like Stripe (the plugin's `api_base` points at it), webhooks signed with the SDK's own
signing code, subscriptions, credit packs, creators' shares and Connect payouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import bostonia_stripe
import pytest
import stripe
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.errors import ConfigError
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, error_of, make_settings, register
from tests.money_support import assert_ledger_audits_balance, balance_of, grant
from tests.stripe_server import FakeStripe, fake_stripe

SECRET = "whsec_test_secret"
Paid = tuple[TestClient[Any], Services, FakeStripe]


@pytest.fixture
def paid(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paid]:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_local")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    with fake_stripe() as server:
        settings = make_settings(plugins={"stripe": {"api_base": server.base}}, creators={"minimum_payout_cents": 100})
        pm = make_plugin_manager([])
        pm.register(ModelPlugin(ScriptedModel()))
        pm.register(bostonia_stripe, name="stripe")
        services = build_services(settings, pm)
        with TestClient(create_app(services=services)) as client:
            yield client, services, server


def signed(client: TestClient[Any], event: dict[str, Any], *, secret: str = SECRET, age: int = 0) -> Any:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=int(time.time()) - age)
    return client.post(
        "/api/v1/payments/webhook",
        content=payload,
        headers={"Stripe-Signature": header, "content-type": "application/json"},
    )


def event(event_id: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}


def events_seen(services: Services) -> int:
    return int(services.db.read_sync(lambda conn: conn.execute("select count(*) from payment_events").fetchone()[0]))


def test_unsigned_badly_signed_and_stale_webhooks_change_nothing(paid: Paid) -> None:
    client, services, _ = paid
    body = event("evt_1", "customer.created", {"id": "cus_1", "object": "customer"})
    assert client.post("/api/v1/payments/webhook", content=json.dumps(body)).status_code == 400
    wrong = signed(client, body, secret="whsec_someone_else")
    assert wrong.status_code == 400 and error_of(wrong)["code"] == "bad_signature"
    assert signed(client, body, age=3600).status_code == 400  # older than the tolerance: a replay
    assert events_seen(services) == 0
    first, again = signed(client, body), signed(client, body)
    assert first.status_code == again.status_code == 200
    assert (first.json()["outcome"], again.json()["outcome"]) == ("ignored", "duplicate")
    assert events_seen(services) == 1


def test_a_subscription_from_checkout_to_cancellation(paid: Paid) -> None:
    client, services, stripe_api = paid
    admin = register(client, "admin@example.com")
    carol, bob = register(client, "carol@example.com"), register(client, "bob@example.com")
    # Bob chats with Carol's character before his first invoice: she gets her share of it.
    character = client.post(
        "/api/v1/characters",
        json={"name": "Carol's bard", "greeting": "Hi", "visibility": "public"},
        headers=bearer(carol),
    ).json()
    conversation = client.post(
        "/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(bob)
    ).json()
    client.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "hello"}, headers=bearer(bob))

    checkout = client.post("/api/v1/payments/subscribe", json={"tier": "plus"}, headers=bearer(bob))
    assert checkout.status_code == 201, checkout.text
    assert checkout.json()["url"].startswith("https://checkout.stripe.test/")
    sent = stripe_api.last("/v1/checkout/sessions")
    assert sent.headers["authorization"] == "Bearer sk_test_local"
    assert sent.form["mode"] == "subscription" and sent.form["client_reference_id"] == bob["user"]["id"]
    assert sent.form["line_items[0][price_data][unit_amount]"] == "999"
    assert sent.form["line_items[0][price_data][recurring][interval]"] == "month"
    assert sent.form["subscription_data[metadata][tier]"] == "plus"
    assert sent.form["success_url"].endswith("/billing?checkout=success")
    offsite = client.post(
        "/api/v1/payments/subscribe", json={"tier": "plus", "success_url": "https://evil.test/"}, headers=bearer(bob)
    )
    assert offsite.status_code == 422  # return addresses are paths on this server

    completed = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "subscription": "sub_1",
        "customer": "cus_test_1",
        "client_reference_id": bob["user"]["id"],
        "metadata": {"user_id": bob["user"]["id"], "tier": "plus"},
    }
    assert signed(client, event("evt_c1", "checkout.session.completed", completed)).json()["outcome"] == "applied"
    assert client.get("/api/v1/users/me", headers=bearer(bob)).json()["tier"] == "plus"

    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_test_1",
        "amount_paid": 999,
        "currency": "usd",
        "parent": {"subscription_details": {"subscription": "sub_1", "metadata": {"tier": "plus"}}},
        "lines": {"data": [{"period": {"start": 1796000000, "end": 1798600000}}]},
    }
    for _ in range(2):  # a replayed invoice grants its credits once
        signed(client, event("evt_i1", "invoice.paid", invoice))
    assert balance_of(services, bob["user"]["id"]) == 500
    assert_ledger_audits_balance(services, bob["user"]["id"])
    earnings = client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()
    assert earnings["totals"] == {
        "gross_cents": 999,
        "fee_cents": 300,
        "net_cents": 699,
        "by_source": {"subscription_share": 699},
    }
    plan = client.get("/api/v1/payments/subscription", headers=bearer(bob)).json()
    assert plan["subscription"]["current_period_end"].startswith("2026-12-")

    failed = {**invoice, "id": "in_2", "amount_due": 999, "amount_paid": 0}
    signed(client, event("evt_i2", "invoice.payment_failed", failed))
    plan = client.get("/api/v1/payments/subscription", headers=bearer(bob)).json()
    assert plan["subscription"]["status"] == "past_due" and plan["tier"] == "plus"  # until Stripe gives up

    portal = client.post("/api/v1/payments/portal", headers=bearer(bob))
    assert portal.json()["url"] == "https://billing.stripe.test/portal"
    assert stripe_api.last("/v1/billing_portal/sessions").form["customer"] == "cus_test_1"
    cancelled = client.post("/api/v1/payments/cancel", headers=bearer(bob))
    assert cancelled.status_code == 200 and cancelled.json()["subscription"]["cancel_at_period_end"] is True
    assert stripe_api.last("/v1/subscriptions/sub_1").form == {"cancel_at_period_end": "true"}

    ended = {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_test_1",
        "status": "canceled",
        "metadata": {"tier": "plus"},
    }
    signed(client, event("evt_d1", "customer.subscription.deleted", ended))
    assert client.get("/api/v1/users/me", headers=bearer(bob)).json()["tier"] == "free"
    history = client.get("/api/v1/payments/history", headers=bearer(bob)).json()["items"]
    assert sorted((p["status"], p["amount_cents"]) for p in history) == [("failed", 999), ("succeeded", 999)]
    dashboard = client.get("/api/v1/admin/dashboard", headers=bearer(admin)).json()
    assert dashboard["revenue_today_cents"] == 999 and dashboard["active_subscriptions"] == {}


def test_a_credit_pack_is_credited_once(paid: Paid) -> None:
    client, services, stripe_api = paid
    register(client, "admin@example.com")
    bob = register(client, "bob@example.com")
    assert client.post("/api/v1/payments/credits", json={"pack": "huge"}, headers=bearer(bob)).status_code == 422
    assert client.post("/api/v1/payments/credits", json={"pack": "small"}, headers=bearer(bob)).status_code == 201
    sent = stripe_api.last("/v1/checkout/sessions")
    assert (sent.form["mode"], sent.form["metadata[credits]"], sent.form["customer_creation"]) == (
        "payment",
        "500",
        "always",
    )
    session = {
        "id": "cs_9",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "payment_intent": "pi_9",
        "amount_total": 499,
        "currency": "usd",
        "customer": "cus_test_1",
        "client_reference_id": bob["user"]["id"],
        "metadata": {"pack": "small", "credits": "500"},
    }
    for event_id in ("evt_p1", "evt_p1", "evt_p2"):  # a replay, and the same payment under another event
        assert signed(client, event(event_id, "checkout.session.completed", session)).status_code == 200
    assert balance_of(services, bob["user"]["id"]) == 500
    me = client.get("/api/v1/users/me", headers=bearer(bob)).json()["credits"]
    assert me["lifetime_purchased"] == 500
    assert [p["description"] for p in client.get("/api/v1/payments/history", headers=bearer(bob)).json()["items"]] == [
        "500 credits (small)"
    ]


def test_creator_payouts_through_connect(paid: Paid) -> None:
    client, services, stripe_api = paid
    admin = register(client, "admin@example.com")
    carol, bob, dave = (register(client, f"{n}@example.com") for n in ("carol", "bob", "dave"))
    character = client.post(
        "/api/v1/characters",
        json={"name": "Oracle", "greeting": "Ask.", "visibility": "public", "is_premium": True, "premium_credits": 200},
        headers=bearer(carol),
    ).json()
    for fan in (bob, dave):
        grant(services, fan["user"]["id"], 300)
    assert client.post(f"/api/v1/characters/{character['id']}/unlock", headers=bearer(bob)).status_code == 201
    link = client.post("/api/v1/creator/payout-account", headers=bearer(carol))
    assert link.json()["url"] == "https://connect.stripe.test/onboarding"
    assert stripe_api.last("/v1/accounts").form["metadata[bostonia_user_id]"] == carol["user"]["id"]

    payout = client.post("/api/v1/creator/payout", headers=bearer(carol)).json()
    assert (payout["amount_cents"], payout["status"]) == (140, "pending")  # 70 % of 200 credits at 1 cent
    approved = client.post(f"/api/v1/admin/payouts/{payout['id']}/approve", headers=bearer(admin)).json()
    assert approved["status"] == "processing" and approved["provider_reference"].startswith("tr_test_")
    transfer = stripe_api.last("/v1/transfers")
    assert (transfer.form["destination"], transfer.form["amount"]) == ("acct_test_1", "140")
    assert transfer.headers["idempotency-key"] == f"bostonia-payout-{payout['id']}"
    created = {
        "id": approved["provider_reference"],
        "object": "transfer",
        "amount": 140,
        "metadata": {"payout_id": payout["id"]},
    }
    signed(client, event("evt_t1", "transfer.created", created))
    earnings = client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()
    assert [p["status"] for p in earnings["payouts"]] == ["completed"] and earnings["pending_payout_cents"] == 0

    assert client.post(f"/api/v1/characters/{character['id']}/unlock", headers=bearer(dave)).status_code == 201
    second = client.post("/api/v1/creator/payout", headers=bearer(carol)).json()
    approved = client.post(f"/api/v1/admin/payouts/{second['id']}/approve", headers=bearer(admin)).json()
    reversed_ = {"id": approved["provider_reference"], "object": "transfer", "metadata": {"payout_id": second["id"]}}
    signed(client, event("evt_t2", "transfer.reversed", reversed_))
    earnings = client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()
    assert earnings["payouts"][0]["status"] == "failed" and earnings["pending_payout_cents"] == 140


def test_the_server_refuses_to_start_without_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_local")
    pm = make_plugin_manager([])
    pm.register(bostonia_stripe, name="stripe")
    services = build_services(make_settings(), pm)
    try:
        with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
            asyncio.run(services.start())
    finally:
        services.db.close()
