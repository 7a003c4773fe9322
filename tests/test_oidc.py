"""The bostonia-oidc plugin, end to end: the authorization code flow with state, nonce and PKCE against
a real OIDC provider on localhost, driven by an HTTP client playing the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bostonia_oidc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, make_settings, post_form, register, serve_in_thread
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

SECRET_ENV = "TEST_OIDC_CLIENT_SECRET"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    with running_provider() as provider:
        yield provider


@pytest.fixture
def server(provider: Provider) -> Iterator[str]:
    settings = make_settings(
        plugins={
            "oidc": {
                "providers": [
                    {
                        "name": "test",
                        "label": "Test ID",
                        "issuer": provider.issuer,
                        "client_id": CLIENT_ID,
                        "client_secret_env": SECRET_ENV,
                    }
                ]
            }
        }
    )
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    plugins.register(bostonia_oidc, name="oidc")
    with serve_in_thread(create_app(settings, services=build_services(settings, plugins))) as url:
        provider.redirect_uris.add(f"{url}/auth/oidc/test/callback")
        yield url


@pytest.fixture
def browser(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def start(browser: httpx.Client, next: str = "/chats") -> httpx.Response:
    """Click "Sign in with Test ID": our server answers with a redirect to the provider."""
    response = browser.get(f"/auth/oidc/test/login?next={next}")
    assert response.status_code == 302, response.text
    return response


def authorize(provider_url: str) -> str:
    """The provider's authorization page (it approves at once); returns our callback URL."""
    response = httpx.get(provider_url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def sign_in(browser: httpx.Client) -> httpx.Response:
    return browser.get(authorize(start(browser).headers["location"]))


def test_login_page_offers_the_provider(browser: httpx.Client) -> None:
    page = browser.get("/login?next=/favorites", headers={"accept": "text/html"}).text
    assert "Sign in with Test ID" in page
    assert 'href="/auth/oidc/test/login?next=/favorites"' in page or "next=%2Ffavorites" in page


def test_authorization_code_flow_with_pkce_creates_an_account(browser: httpx.Client, provider: Provider) -> None:
    redirect = start(browser)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert redirect.headers["location"].startswith(provider.issuer + "/authorize")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == [CLIENT_ID]
    assert "bostonia_oidc" in redirect.headers["set-cookie"] and "HttpOnly" in redirect.headers["set-cookie"]

    done = browser.get(authorize(redirect.headers["location"]))
    assert done.status_code == 303 and done.headers["location"] == "/chats"
    assert "bostonia_session=" in done.headers["set-cookie"]
    # The code was exchanged with the PKCE verifier and client authentication (checked by the provider).
    assert provider.token_requests[-1]["code_verifier"] and not provider.codes

    me = browser.get("/api/v1/users/me").json()
    assert me["email"] == "oidc@example.com" and me["display_name"] == "Oidc User"
    assert me["has_password"] is False and me["linked_providers"] == ["test"] and me["email_verified"] is True

    # Signing in again finds the same account through the linked identity.
    post_form(browser, "/logout")
    assert browser.get("/api/v1/users/me").status_code == 401
    assert sign_in(browser).status_code == 303
    assert browser.get("/api/v1/users/me").json()["id"] == me["id"]


def test_a_forged_or_replayed_state_is_refused(browser: httpx.Client, provider: Provider) -> None:
    callback = authorize(start(browser).headers["location"])
    forged = callback.replace("state=", "state=x")
    refused = browser.get(forged, headers={"accept": "text/html"})
    assert refused.status_code == 401 and "invalid or expired" in refused.text
    assert "bostonia_session" not in refused.headers.get("set-cookie", "")
    # The real state still works once, then never again.
    assert browser.get(callback).status_code == 303
    browser.cookies.delete("bostonia_session")
    assert browser.get(callback).status_code == 401


def test_a_callback_in_another_browser_is_refused(browser: httpx.Client, server: str) -> None:
    callback = authorize(start(browser).headers["location"])
    with httpx.Client(base_url=server) as other:
        response = other.get(callback)
    assert response.status_code == 401
    assert browser.get(callback).status_code == 303  # the browser that started it still can


def test_an_id_token_with_the_wrong_nonce_or_signature_is_refused(browser: httpx.Client, provider: Provider) -> None:
    provider.wrong_nonce = True
    response = sign_in(browser)
    assert response.status_code == 401 and "nonce" in response.text
    provider.wrong_nonce = False
    provider.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = sign_in(browser)
    assert response.status_code == 401 and "not valid" in response.text
    assert browser.get("/api/v1/users/me").status_code == 401


def test_existing_email_links_only_when_the_provider_verified_it(
    browser: httpx.Client, provider: Provider, server: str
) -> None:
    account = register(browser, "oidc@example.com")  # a password account with the same email
    provider.next_user = {"sub": "user-2", "email": "oidc@example.com", "email_verified": False, "name": "X"}
    refused = sign_in(browser)
    assert refused.status_code == 409 and "sign in with your password first" in refused.text
    assert browser.get("/api/v1/users/me").status_code == 401

    provider.next_user = {**provider.next_user, "email_verified": True}
    assert sign_in(browser).status_code == 303
    me = browser.get("/api/v1/users/me").json()
    assert me["id"] == account["user"]["id"] and me["linked_providers"] == ["test"]
    # The password still works too (from an API client: no session cookie, so no CSRF token needed).
    login = httpx.post(f"{server}/api/v1/auth/login", json={"email": "oidc@example.com", "password": PASSWORD})
    assert login.status_code == 200


def test_a_signed_in_user_links_a_provider_to_their_account(browser: httpx.Client, provider: Provider) -> None:
    register(browser, "someone@example.com")
    assert post_form(browser, "/login", {"email": "someone@example.com", "password": PASSWORD}).status_code == 303
    provider.next_user = {"sub": "user-3", "email": "different@example.com", "email_verified": False}
    assert sign_in(browser).status_code == 303
    assert browser.get("/api/v1/users/me").json()["linked_providers"] == ["test"]


def test_the_provider_saying_no_is_a_clear_message(browser: httpx.Client) -> None:
    redirect = start(browser)
    state = parse_qs(urlsplit(redirect.headers["location"]).query)["state"][0]
    response = browser.get(f"/auth/oidc/test/callback?error=access_denied&state={state}")
    assert response.status_code == 401 and "did not sign you in" in response.text


def test_unknown_provider_is_404(browser: httpx.Client) -> None:
    assert browser.get("/auth/oidc/nope/login").status_code == 404


def test_no_buttons_without_providers(client: Any) -> None:
    page = client.get("/login", headers={"accept": "text/html"}).text
    assert 'class="button secondary provider"' not in page and "/auth/oidc/" not in page


def test_the_form_post_callback_finishes_a_login_without_a_csrf_token(browser: httpx.Client) -> None:
    """Providers in `response_mode=form_post` (Apple) POST code and state back; the single-use state
    bound to this browser protects that request instead of a CSRF token."""
    callback = authorize(start(browser).headers["location"])
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    response = browser.post("/auth/oidc/test/callback", data=params)
    assert response.status_code == 303 and "bostonia_session=" in response.headers["set-cookie"]
    assert browser.get("/api/v1/users/me").json()["email"] == "oidc@example.com"


def test_no_new_account_for_an_unverified_email(browser: httpx.Client, provider: Provider) -> None:
    provider.next_user = {"sub": "user-9", "email": "squat@example.com", "email_verified": False}
    refused = sign_in(browser)
    assert refused.status_code == 403 and "not verified your email" in refused.text
    assert browser.get("/api/v1/users/me").status_code == 401
    assert (
        httpx.post(
            f"{browser.base_url}".rstrip("/") + "/api/v1/auth/register",
            json={"email": "squat@example.com", "password": PASSWORD},
        ).status_code
        == 201
    )
