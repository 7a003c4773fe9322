"""Passkeys over the API: ceremonies are single-use and bound to their account and site, bad answers
change nothing, and nobody manages another account's passkeys. (The full ceremony with a real
authenticator runs in Chromium: tests/e2e/test_passkeys_browser.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.auth.passkeys import RelyingParty
from bostonia.errors import InvalidInput
from tests.helpers import bearer, error_of

API = "/api/v1/auth/passkeys"


def test_relying_party_is_the_host_name() -> None:
    rp = RelyingParty.from_url("http://localhost:8420")
    assert (rp.rp_id, rp.origin) == ("localhost", "http://localhost:8420")
    assert RelyingParty.from_url("https://chat.example.org/").rp_id == "chat.example.org"
    for address in ("http://127.0.0.1:8420", "http://[::1]:8420"):
        with pytest.raises(InvalidInput, match="name"):
            RelyingParty.from_url(address)


def test_registration_options_are_for_the_signed_in_account(client: TestClient[Any], alice: dict[str, Any]) -> None:
    assert client.post(f"{API}/register/options").status_code == 401
    started = client.post(f"{API}/register/options", headers=bearer(alice))
    assert started.status_code == 200, started.text
    body = started.json()
    options = body["options"]
    assert len(body["ceremony"]) >= 32
    assert options["rp"]["id"] == "testserver.local" and options["user"]["name"] == "alice@example.com"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert len(options["challenge"]) >= 40  # 32 random bytes, base64url


def test_a_bad_answer_is_refused_and_changes_nothing(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    ceremony = client.post(f"{API}/register/options", headers=bearer(alice)).json()["ceremony"]
    forged = {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": "e30"}}
    # Another account cannot finish alice's ceremony.
    stolen = client.post(f"{API}/register", json={"ceremony": ceremony, "credential": forged}, headers=bearer(bob))
    assert stolen.status_code == 422 and error_of(stolen)["code"] == "passkey_ceremony"
    ceremony = client.post(f"{API}/register/options", headers=bearer(alice)).json()["ceremony"]
    bad = client.post(f"{API}/register", json={"ceremony": ceremony, "credential": forged}, headers=bearer(alice))
    assert bad.status_code == 422 and error_of(bad)["code"] == "passkey_invalid"
    # A ceremony answers once, right or wrong.
    again = client.post(f"{API}/register", json={"ceremony": ceremony, "credential": forged}, headers=bearer(alice))
    assert again.status_code == 422 and error_of(again)["code"] == "passkey_ceremony"
    assert client.get(f"{API}/", headers=bearer(alice)).json() == {"items": []}
    malformed = client.post(f"{API}/register", json={"ceremony": "short", "credential": {}}, headers=bearer(alice))
    assert malformed.status_code == 400


def test_unknown_passkeys_do_not_sign_in(client: TestClient[Any], alice: dict[str, Any]) -> None:
    started = client.post(f"{API}/login/options")  # anyone may start
    assert started.status_code == 200 and started.json()["options"]["rpId"] == "testserver.local"
    answer = {
        "ceremony": started.json()["ceremony"],
        "credential": {"id": "bm9wZQ", "rawId": "bm9wZQ", "type": "public-key", "response": {}},
    }
    refused = client.post(f"{API}/login", json=answer)
    assert refused.status_code == 401 and error_of(refused)["code"] == "passkey_refused"
    assert client.post(f"{API}/login", json=answer).json()["error"]["code"] == "passkey_ceremony"


def test_nobody_removes_another_accounts_passkey(client: TestClient[Any], alice: dict[str, Any]) -> None:
    gone = client.delete(f"{API}/00000000-0000-0000-0000-000000000000", headers=bearer(alice))
    assert gone.status_code == 404
