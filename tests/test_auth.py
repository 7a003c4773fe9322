from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import PASSWORD, bearer, error_of, post_form, register


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
