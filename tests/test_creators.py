"""The creator economy in a free community (no payment provider): premium characters, unlocks and tips at
the revenue share, payouts approved and paid by hand, the studio's numbers, greeting A/B tests through
real conversation starts, and public creator pages."""

from __future__ import annotations

import random
import re
import time
from decimal import Decimal
from typing import Any

from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.creators.experiments import compare
from bostonia.creators.store import split
from tests.helpers import HTML, bearer, error_of, post_form, register, sign_in
from tests.money_support import assert_ledger_audits_balance, balance_of, grant


def character(client: TestClient[Any], account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": "Oracle", "greeting": "Ask me.", "visibility": "public", **fields}
    response = client.post("/api/v1/characters", json=body, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()


def test_the_share_splits_money_exactly() -> None:
    assert split(200, Decimal("0.70")) == (60, 140)
    assert split(999, Decimal("0.70")) == (300, 699)  # 699.3 rounds to 699; the fee takes the rest
    assert split(5, Decimal("0.70")) == (1, 4)  # 3.5 rounds half up
    assert split(7, Decimal("1")) == (0, 7) and split(7, Decimal("0")) == (7, 0)


def test_premium_characters_unlock_for_credits_and_pay_their_creator(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    carol, bob = register(client, "carol@example.com"), register(client, "bob@example.com")
    oracle = character(client, carol, is_premium=True, premium_credits=200)
    start = {"character_id": oracle["id"]}
    locked = client.post("/api/v1/conversations", json=start, headers=bearer(bob))
    assert locked.status_code == 402 and error_of(locked)["code"] == "premium_character_locked"
    assert client.post("/api/v1/conversations", json=start, headers=bearer(carol)).status_code == 201  # hers
    poor = client.post(f"/api/v1/characters/{oracle['id']}/unlock", headers=bearer(bob))
    assert poor.status_code == 402 and error_of(poor)["code"] == "insufficient_credits"
    grant(services, bob["user"]["id"], 250)
    unlocked = client.post(f"/api/v1/characters/{oracle['id']}/unlock", headers=bearer(bob))
    assert unlocked.status_code == 201 and unlocked.json()["balance"] == 50
    assert client.post(f"/api/v1/characters/{oracle['id']}/unlock", headers=bearer(bob)).status_code == 409
    assert client.post("/api/v1/conversations", json=start, headers=bearer(bob)).status_code == 201
    assert (
        client.post(f"/api/v1/characters/{oracle['id']}/tip", json={"credits": 30}, headers=bearer(bob)).status_code
        == 201
    )
    assert balance_of(services, bob["user"]["id"]) == 20
    assert_ledger_audits_balance(services, bob["user"]["id"])
    earnings = client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()
    assert earnings["totals"] == {
        "gross_cents": 230,
        "fee_cents": 69,
        "net_cents": 161,
        "by_source": {"premium_unlock": 140, "tip": 21},
    }
    assert earnings["pending_payout_cents"] == 161 and earnings["revenue_share_rate"] == "0.70"
    # A plan with premium access needs no unlock.
    dave = register(client, "dave@example.com")
    client.patch(f"/api/v1/admin/users/{dave['user']['id']}", json={"tier": "pro"}, headers=bearer(alice))
    assert client.post("/api/v1/conversations", json=start, headers=bearer(dave)).status_code == 201
    # Nobody sees another creator's money: every creator route answers with the caller's own.
    bobs = client.get("/api/v1/creator/earnings", headers=bearer(bob)).json()
    assert bobs["totals"]["net_cents"] == 0 and bobs["items"] == []
    stats = client.get("/api/v1/creator/characters", headers=bearer(carol)).json()["items"]
    assert [(s["name"], s["unlocks"], s["net_cents"]) for s in stats] == [("Oracle", 1, 161)]


def test_payouts_by_hand_in_a_free_community(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    carol, bob = register(client, "carol@example.com"), register(client, "bob@example.com")
    oracle = character(client, carol, is_premium=True, premium_credits=2000)
    grant(services, bob["user"]["id"], 2000)
    client.post(f"/api/v1/characters/{oracle['id']}/unlock", headers=bearer(bob))
    too_much = client.post("/api/v1/creator/payout", json={"amount_cents": 5000}, headers=bearer(carol))
    assert too_much.status_code == 422 and error_of(too_much)["code"] == "payout_exceeds_pending"
    first = client.post("/api/v1/creator/payout", json={"amount_cents": 1000}, headers=bearer(carol)).json()
    assert first["status"] == "pending"
    assert client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()["pending_payout_cents"] == 400
    small = client.post("/api/v1/creator/payout", headers=bearer(carol))
    assert small.status_code == 422 and error_of(small)["code"] == "payout_too_small"  # 400 < the 1000 minimum
    rejected = client.post(
        f"/api/v1/admin/payouts/{first['id']}/fail", json={"reason": "bank details missing"}, headers=bearer(alice)
    ).json()
    assert rejected["status"] == "failed" and rejected["failure_reason"] == "bank details missing"
    assert client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()["pending_payout_cents"] == 1400
    payout = client.post("/api/v1/creator/payout", headers=bearer(carol)).json()  # everything pending
    assert payout["amount_cents"] == 1400
    assert client.post(f"/api/v1/admin/payouts/{payout['id']}/approve", headers=bearer(bob)).status_code == 403
    assert client.post(f"/api/v1/admin/payouts/{payout['id']}/complete", headers=bearer(alice)).status_code == 409
    # The admin page: approve (no provider: processing, paid by hand), then mark completed.
    sign_in(client, "alice@example.com")
    page = client.get("/admin/payouts", headers=HTML)
    assert f'data-payout-id="{payout["id"]}" data-status="pending"' in page.text
    assert post_form(client, f"/admin/payouts/{payout['id']}/approve", follow_redirects=False).status_code == 303
    assert post_form(client, f"/admin/payouts/{payout['id']}/complete", follow_redirects=False).status_code == 303
    done = client.get("/api/v1/admin/payouts?status=completed", headers=bearer(alice)).json()["items"]
    assert [p["id"] for p in done] == [payout["id"]] and done[0]["creator_email"] == "carol@example.com"
    assert client.get("/api/v1/creator/earnings", headers=bearer(carol)).json()["pending_payout_cents"] == 0
    audit = client.get("/api/v1/admin/audit", headers=bearer(alice)).json()["items"]
    assert {"payout.processing", "payout.completed", "payout.failed"} <= {a["action"] for a in audit}


def test_greeting_tests_split_new_conversations_and_report_the_winner(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    carol = register(client, "carol@example.com")
    bard = character(client, carol, greeting="Hello, traveller.", alternate_greetings=["Oi! You there!"])
    bad = client.post(
        "/api/v1/creator/experiments", json={"character_id": bard["id"], "greeting_b": 5}, headers=bearer(carol)
    )
    assert bad.status_code == 422
    assert (
        client.post("/api/v1/creator/experiments", json={"character_id": bard["id"]}, headers=bearer(alice)).status_code
        == 404
    )  # admins test their own characters only
    experiment = client.post("/api/v1/creator/experiments", json={"character_id": bard["id"]}, headers=bearer(carol))
    assert experiment.status_code == 201, experiment.text
    experiment_id = experiment.json()["id"]
    services.experiments.random = random.Random(7)
    users = [register(client, f"u{n}@example.com") for n in range(8)]
    shown: dict[str, str] = {}
    for n, account in enumerate(users):
        conversation = client.post(
            "/api/v1/conversations", json={"character_id": bard["id"]}, headers=bearer(account)
        ).json()
        first = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(account)).json()[
            "items"
        ]
        shown[conversation["id"]] = first[0]["content"]
        # Those who got the rude greeting leave; the others chat on.
        if first[0]["content"] == "Hello, traveller.":
            for _ in range(3):
                client.post(
                    f"/api/v1/conversations/{conversation['id']}/messages",
                    json={"content": f"hi {n}"},
                    headers=bearer(account),
                )
    assert set(shown.values()) == {"Hello, traveller.", "Oi! You there!"}  # both greetings were shown
    result = client.get(f"/api/v1/creator/experiments/{experiment_id}", headers=bearer(carol)).json()
    by_variant = {v["variant"]: v for v in result["variants"]}
    polite = sum(1 for text in shown.values() if text == "Hello, traveller.")
    assert by_variant["a"]["conversations"] == polite and by_variant["b"]["conversations"] == 8 - polite
    assert by_variant["a"]["mean_user_messages"] == 3.0 and by_variant["b"]["mean_user_messages"] == 0.0
    assert by_variant["a"]["kept_chatting_rate"] == 1.0
    assert result["leader"] is None and "No clear winner yet" in result["verdict"]  # 8 conversations are few
    assert client.get(f"/api/v1/creator/experiments/{experiment_id}", headers=bearer(alice)).status_code == 404
    sign_in(client, "carol@example.com")
    page = client.get("/studio/experiments", headers=HTML).text
    assert re.search(rf'data-variant="a">.*?<td class="sample">{polite}</td>', page, re.S)
    stopped = client.post(f"/api/v1/creator/experiments/{experiment_id}/stop", headers=bearer(carol)).json()
    assert stopped["status"] == "stopped"
    later = client.post("/api/v1/conversations", json={"character_id": bard["id"]}, headers=bearer(users[0])).json()
    first = client.get(f"/api/v1/conversations/{later['id']}/messages", headers=bearer(users[0])).json()["items"]
    assert first[0]["content"] == "Hello, traveller."  # no test running: the card's first message


def test_comparing_variants_needs_samples_and_a_clear_difference() -> None:
    assert compare([3] * 30, [0] * 30) == ("a", 1.0)
    leader, confidence = compare([1, 2, 3, 2] * 10, [1, 2, 2, 1] * 10)
    assert leader == "a" and confidence > 0.95
    assert compare([1, 2, 3] * 3, [1, 2, 2] * 3)[0] is None  # too few conversations
    assert compare([1, 2] * 20, [2, 1] * 20)[0] is None  # no difference


def test_studio_pages_and_the_public_creator_page(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    carol = register(client, "carol@example.com", name="Carol")
    public = character(client, carol, name="Public bard")
    hidden = character(client, carol, name="Secret diary", visibility="private")
    client.patch(
        "/api/v1/creator/profile",
        json={"bio": "I write bards.", "links": ["https://carol.example"]},
        headers=bearer(carol),
    )
    assert client.get(f"/characters/{public['id']}", headers=HTML).status_code == 200  # a view
    client.post("/api/v1/conversations", json={"character_id": public["id"]}, headers=bearer(alice))
    page = client.get(f"/api/v1/creators/{carol['user']['id']}").json()
    assert page["creator"]["bio"] == "I write bards." and page["creator"]["display_name"] == "Carol"
    assert [c["name"] for c in page["characters"]["items"]] == ["Public bard"]
    html = client.get(f"/creators/{carol['user']['id']}", headers=HTML).text
    assert "Public bard" in html and "Secret diary" not in html and hidden["id"] not in html
    assert "payout" not in client.get(f"/api/v1/creators/{carol['user']['id']}").text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        analytics = client.get("/api/v1/creator/analytics?days=7", headers=bearer(carol)).json()
        if analytics["totals"]["conversations"] == 1:
            break
        time.sleep(0.1)
    assert analytics["series"]["conversations"][public["id"]][-1] == 1
    assert set(analytics["characters"]) == {public["id"], hidden["id"]}
    sign_in(client, "carol@example.com")
    studio = client.get("/studio", headers=HTML).text
    assert "Public bard" in studio and "Secret diary" in studio
    charts = client.get("/studio/analytics?days=7", headers=HTML).text
    assert 'id="chart-conversations"' in charts and 'data-series="Public bard"' in charts
    assert client.get("/studio/analytics?days=0", headers=HTML).status_code == 422
    assert (
        post_form(client, "/studio/profile", {"display_name": "Carol B", "bio": "", "links": "not a url"}).status_code
        == 422
    )
