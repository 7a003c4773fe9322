from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from tests.helpers import PASSWORD, bearer, error_of, post_form, register


def test_register_returns_tokens_and_the_user(client: TestClient[Any]) -> None:
    body = register(client, "ann@example.com", name="Ann")
    assert body["token_type"] == "bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["display_name"] == "Ann"
    assert "password" not in str(body["user"])


def test_first_user_is_admin_later_users_are_not(client: TestClient[Any]) -> None:
    assert register(client, "first@example.com")["user"]["role"] == "admin"
    assert register(client, "second@example.com")["user"]["role"] == "user"


def test_login_with_the_right_password(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.post("/api/v1/auth/login", json={"email": "ALICE@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["id"] == alice["user"]["id"]


def test_wrong_password_and_unknown_email_fail_alike(client: TestClient[Any], alice: dict[str, Any]) -> None:
    wrong = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": "nope nope nope"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong) == error_of(unknown)


def test_duplicate_email_is_a_conflict(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.post("/api/v1/auth/register", json={"email": "Alice@Example.com", "password": PASSWORD})
    assert response.status_code == 409
    assert error_of(response)["code"] == "email_taken"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "x@example.com"}, 400),  # missing password
        ({"email": 5, "password": PASSWORD}, 400),  # wrong type
        ({"email": "x@example.com", "password": PASSWORD, "admin": True}, 400),  # unknown field
        ({"email": "not-an-email", "password": PASSWORD}, 422),
        ({"email": "x@example.com", "password": "short"}, 422),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "   "}, 422),
    ],
)
def test_bad_registration_input_is_rejected_and_stores_nothing(
    client: TestClient[Any], body: dict[str, Any], status: int
) -> None:
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == status, response.text
    error_of(response)
    assert client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": PASSWORD}).status_code == 401


def test_malformed_json_is_a_400(client: TestClient[Any]) -> None:
    response = client.post("/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    error_of(response)


def test_bearer_token_authenticates_api_calls(client: TestClient[Any], alice: dict[str, Any]) -> None:
    assert client.get("/api/v1/conversations", headers=bearer(alice)).status_code == 200
    assert client.get("/api/v1/conversations").status_code == 401
    bad = client.get("/api/v1/conversations", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401 and error_of(bad)["code"] == "not_authenticated"


def test_browser_session_cookie_is_httponly_and_works(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = post_form(
        client, "/login", {"email": "alice@example.com", "password": PASSWORD, "next": "/chats"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/chats"
    cookie = response.headers["set-cookie"]
    assert "bostonia_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/v1/conversations").status_code == 200  # the client now carries the cookie
    post_form(client, "/logout", follow_redirects=False)
    assert client.get("/api/v1/conversations").status_code == 401


def test_login_page_does_not_redirect_off_site(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = post_form(
        client,
        "/login",
        data={"email": "alice@example.com", "password": PASSWORD, "next": "//evil.example/steal"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_failed_page_login_shows_the_form_again(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = post_form(client, "/login", {"email": "alice@example.com", "password": "wrong password"})
    assert response.status_code == 401
    assert "invalid email or password" in response.text


# -- access tokens, refresh rotation, logout ------------------------------------------------------


def test_access_token_carries_the_seed_claims(client: TestClient[Any], alice: dict[str, Any]) -> None:
    import jwt

    claims = jwt.decode(alice["access_token"], options={"verify_signature": False})
    assert {"sub", "email", "tier", "age_verified", "content_tier", "iat", "exp", "sid"} <= set(claims)
    assert claims["sub"] == alice["user"]["id"] and claims["email"] == "alice@example.com"
    assert claims["tier"] == "free" and claims["age_verified"] is False and claims["content_tier"] == "sfw"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_a_token_signed_with_another_secret_is_refused(client: TestClient[Any], alice: dict[str, Any]) -> None:
    import jwt

    claims = jwt.decode(alice["access_token"], options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "role": "admin"}, "not the instance secret, but long enough for HS256", algorithm="HS256"
    )
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client: TestClient[Any], alice: dict[str, Any]) -> None:
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != alice["refresh_token"] and rotated["user"]["id"] == alice["user"]["id"]
    assert client.get("/api/v1/users/me", headers=bearer(rotated)).status_code == 200

    # The old refresh token comes back (stolen, replayed): 401, and the whole sign-in is revoked,
    # including the newest refresh token and every access token issued for it.
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert reused.status_code == 401 and error_of(reused)["code"] == "refresh_token_reused"
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(rotated)).status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 401


def test_other_sign_ins_survive_a_revoked_family(client: TestClient[Any], alice: dict[str, Any]) -> None:
    other = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).json()
    client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})  # reuse
    assert client.get("/api/v1/users/me", headers=bearer(other)).status_code == 200


def test_refresh_rejects_unknown_and_malformed_tokens(client: TestClient[Any]) -> None:
    unknown = client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
    assert unknown.status_code == 401 and error_of(unknown)["code"] == "invalid_refresh_token"
    assert client.post("/api/v1/auth/refresh", json={}).status_code == 400
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": ""}).status_code == 400


def test_logout_revokes_the_refresh_token_and_its_access_tokens(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.post("/api/v1/auth/logout", json={"refresh_token": alice["refresh_token"]})
    assert response.status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 401


def test_logout_with_just_the_access_token(client: TestClient[Any], alice: dict[str, Any]) -> None:
    assert client.post("/api/v1/auth/logout", headers=bearer(alice)).status_code == 204
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]}).status_code == 401


def test_logout_is_quiet_about_bad_tokens(client: TestClient[Any]) -> None:
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "whatever"}).status_code == 204
    assert client.post("/api/v1/auth/logout").status_code == 204
    bad = client.post("/api/v1/auth/logout", content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400


def test_api_logout_ends_the_browser_session(client: TestClient[Any], alice: dict[str, Any]) -> None:
    post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD}, follow_redirects=False)
    assert client.get("/api/v1/users/me").status_code == 200
    token = client.cookies["bostonia_csrf"]
    assert client.post("/api/v1/auth/logout", headers={"x-csrftoken": token}).status_code == 204
    assert client.get("/api/v1/users/me").status_code == 401


def test_pages_accept_a_bearer_token(client: TestClient[Any], alice: dict[str, Any]) -> None:
    page = client.get("/account", headers={**bearer(alice), "accept": "text/html"})
    assert page.status_code == 200 and "alice@example.com" in page.text


def test_a_disabled_account_loses_access_at_once(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    assert (
        client.patch(
            f"/api/v1/admin/users/{bob['user']['id']}", json={"is_active": False}, headers=bearer(alice)
        ).status_code
        == 200
    )
    assert client.get("/api/v1/users/me", headers=bearer(bob)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh_token"]}).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert login.status_code == 401 and error_of(login)["code"] == "invalid_credentials"


def test_expired_credentials_are_purged_and_live_ones_kept(
    client: TestClient[Any], alice: dict[str, Any], services: Services
) -> None:
    """Housekeeping forgets what can never be accepted again; a live sign-in (and the revoked tokens of
    its family that reuse detection still needs) survives it."""
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]}).json()
    stale = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).json()
    with client.portal() as portal:
        user = portal.call(services.auth.users.get, alice["user"]["id"])
        portal.call(services.recovery.create_link, user, "http://localhost")
    stale_family = services.auth.session_of_access_token(stale["access_token"])
    services.db.write_sync(
        lambda conn: (
            conn.execute(
                "update auth_sessions set expires_at = '2000-01-01T00:00:00Z' where family_id = ?", (stale_family,)
            ),
            conn.execute("update password_resets set expires_at = '2000-01-01T00:00:00Z'"),
        )
    )

    with client.portal() as portal:
        purged = portal.call(services.auth.purge_expired)

    assert purged == {"sessions": 1, "password_resets": 1}
    assert client.get("/api/v1/users/me", headers=bearer(rotated)).status_code == 200
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert error_of(reused)["code"] == "refresh_token_reused"  # the spent token was kept, so reuse is still caught
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": stale["refresh_token"]}).status_code == 401
