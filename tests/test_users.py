"""The signed-in user's own account: profile, preferences, age verification and content tiers."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.users.schemas import AgeVerification
from bostonia.users.service import age_on
from tests.helpers import HTML, add_character, bearer, error_of, post_form, sign_in


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.date.today()
    return (today.replace(year=today.year - years) - datetime.timedelta(days=days)).isoformat()


def test_me_shows_the_profile(client: TestClient[Any], alice: dict[str, Any]) -> None:
    me = client.get("/api/v1/users/me", headers=bearer(alice))
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "alice@example.com" and body["role"] == "admin" and body["tier"] == "free"
    assert body["has_password"] is True and body["age_verified"] is False and body["date_of_birth"] is None
    assert "password_hash" not in body and "argon2" not in str(body)
    assert client.get("/api/v1/users/me").status_code == 401


def test_patch_me(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.patch("/api/v1/users/me", json={"display_name": " Ally ", "bio": "Hi."}, headers=bearer(alice))
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ally" and response.json()["bio"] == "Hi."


@pytest.mark.parametrize(
    "body, status",
    [
        ({"display_name": ""}, 400),
        ({"display_name": "   "}, 422),
        ({"display_name": "x" * 65}, 400),
        ({"bio": "x" * 2001}, 400),
        ({"email": "new@example.com"}, 400),  # not changeable here
        ({"role": "admin"}, 400),
        ({"content_tier": "spicy"}, 400),
        ({"content_tier": "adult"}, 403),  # age not verified
    ],
)
def test_bad_profile_changes_are_refused_and_change_nothing(
    client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any], status: int
) -> None:
    before = client.get("/api/v1/users/me", headers=bearer(alice)).json()
    response = client.patch("/api/v1/users/me", json=body, headers=bearer(alice))
    assert response.status_code == status, response.text
    error_of(response)
    assert client.get("/api/v1/users/me", headers=bearer(alice)).json() == before


def test_preferences_round_trip(client: TestClient[Any], alice: dict[str, Any]) -> None:
    defaults = client.get("/api/v1/users/me/preferences", headers=bearer(alice)).json()
    assert {
        k: defaults[k] for k in ("theme", "language", "notifications_enabled", "memory_visible", "typing_indicators")
    } == {
        "theme": "system",
        "language": "en",
        "notifications_enabled": True,
        "memory_visible": True,
        "typing_indicators": True,
    }
    changed = client.patch(
        "/api/v1/users/me/preferences",
        json={"theme": "dark", "language": "en-GB", "typing_indicators": False},
        headers=bearer(alice),
    ).json()
    # en-GB is English, the language Bostonia ships in.
    assert changed["theme"] == "dark" and changed["language"] == "en" and changed["typing_indicators"] is False
    assert changed["memory_visible"] is True  # untouched fields stay
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 200
    page = client.get("/", headers={**bearer(alice), **HTML}).text
    assert '<html lang="en" data-theme="dark">' in page


def test_a_language_without_a_translation_is_refused_visibly(client: TestClient[Any], alice: dict[str, Any]) -> None:
    before = client.get("/api/v1/users/me/preferences", headers=bearer(alice)).json()
    response = client.patch("/api/v1/users/me/preferences", json={"language": "pt-BR"}, headers=bearer(alice))
    assert response.status_code == 422 and error_of(response)["code"] == "language_unavailable"
    assert "'pt-BR'" in error_of(response)["message"]
    assert client.get("/api/v1/users/me/preferences", headers=bearer(alice)).json() == before
    sign_in(client)
    status = post_form(client, "/account/preferences", {"language": "pt-BR", "theme": "system"}, htmx=True)
    assert "Not saved" in status.text and 'role="alert"' in status.text


@pytest.mark.parametrize(
    "body",
    [{"theme": "purple"}, {"language": "english please"}, {"notifications_enabled": "yes"}, {"font": "big"}],
)
def test_bad_preferences_are_refused(client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any]) -> None:
    before = client.get("/api/v1/users/me/preferences", headers=bearer(alice)).json()
    response = client.patch("/api/v1/users/me/preferences", json=body, headers=bearer(alice))
    assert response.status_code == 400 and error_of(response)["code"] == "validation_error"
    assert client.get("/api/v1/users/me/preferences", headers=bearer(alice)).json() == before


def test_age_arithmetic() -> None:
    assert age_on(datetime.date(2000, 3, 1), datetime.date(2018, 2, 28)) == 17
    assert age_on(datetime.date(2000, 3, 1), datetime.date(2018, 3, 1)) == 18
    assert age_on(datetime.date(2000, 2, 29), datetime.date(2018, 2, 28)) == 17


def test_verify_age_unlocks_mature_content_for_adults_only(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], services: Services
) -> None:
    mature = add_character(services, "Velvet", content_tier="mature")
    adult = add_character(services, "Scarlet", content_tier="adult")

    def visible(account: dict[str, Any]) -> set[str]:
        return {c["id"] for c in client.get("/api/v1/characters", headers=bearer(account)).json()["items"]}

    assert not {mature, adult} & visible(alice)
    assert client.get(f"/api/v1/characters/{mature}", headers=bearer(alice)).status_code == 404

    adult_alice = client.post("/api/v1/auth/verify-age", json={"date_of_birth": years_ago(30)}, headers=bearer(alice))
    assert adult_alice.status_code == 200
    assert adult_alice.json()["age_verified"] is True and adult_alice.json()["content_tier"] == "mature"
    assert mature in visible(alice) and adult not in visible(alice)
    client.patch("/api/v1/users/me", json={"content_tier": "adult"}, headers=bearer(alice))
    assert {mature, adult} <= visible(alice)

    # A minor: the date is recorded, nothing unlocks, and it cannot be "corrected" to an adult's.
    minor = client.post("/api/v1/auth/verify-age", json={"date_of_birth": years_ago(17, days=-1)}, headers=bearer(bob))
    assert minor.status_code == 200 and minor.json()["age_verified"] is False and minor.json()["content_tier"] == "sfw"
    assert not {mature, adult} & visible(bob)
    lie = client.post("/api/v1/auth/verify-age", json={"date_of_birth": years_ago(40)}, headers=bearer(bob))
    assert lie.status_code == 409 and error_of(lie)["code"] == "date_of_birth_recorded"
    assert client.patch("/api/v1/users/me", json={"content_tier": "mature"}, headers=bearer(bob)).status_code == 403
    assert not {mature, adult} & visible(bob)
    # An admin can clear a mistyped date; then it can be given again.
    cleared = client.patch(
        f"/api/v1/admin/users/{bob['user']['id']}", json={"reset_age_verification": True}, headers=bearer(alice)
    )
    assert cleared.status_code == 200 and cleared.json()["age_verified"] is False
    again = client.post("/api/v1/auth/verify-age", json={"date_of_birth": years_ago(40)}, headers=bearer(bob))
    assert again.status_code == 200 and again.json()["age_verified"] is True
    # Anonymous visitors never see them either.
    anonymous = {c["id"] for c in client.get("/api/v1/characters").json()["items"]}
    assert not {mature, adult} & anonymous


def test_eighteenth_birthday_is_the_threshold(
    client: TestClient[Any], alice: dict[str, Any], services: Services
) -> None:
    profile = client.post("/api/v1/auth/verify-age", json={"date_of_birth": years_ago(18)}, headers=bearer(alice))
    assert profile.json()["age_verified"] is True


@pytest.mark.parametrize(
    "body, status",
    [
        ({"date_of_birth": "2990-01-01"}, 422),
        ({"date_of_birth": "1800-01-01"}, 422),
        ({"date_of_birth": "yesterday"}, 400),
        ({"date_of_birth": "2000-02-30"}, 400),
        ({"date_of_birth": "2000-01-01", "content_tier": "extreme"}, 400),
        ({}, 400),
    ],
)
def test_bad_dates_of_birth(client: TestClient[Any], alice: dict[str, Any], body: dict[str, Any], status: int) -> None:
    response = client.post("/api/v1/auth/verify-age", json=body, headers=bearer(alice))
    assert response.status_code == status, response.text
    assert client.get("/api/v1/users/me", headers=bearer(alice)).json()["date_of_birth"] is None


def test_verify_age_needs_a_sign_in(client: TestClient[Any]) -> None:
    assert client.post("/api/v1/auth/verify-age", json={"date_of_birth": "2000-01-01"}).status_code == 401


def test_change_password_keeps_this_session_and_ends_the_others(client: TestClient[Any], alice: dict[str, Any]) -> None:
    other = client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": "correct horse battery"}
    ).json()
    wrong = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "nope", "new_password": "new password 1"},
        headers=bearer(alice),
    )
    assert wrong.status_code == 422 and error_of(wrong)["code"] == "wrong_password"
    ok = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "correct horse battery", "new_password": "new password 1"},
        headers=bearer(alice),
    )
    assert ok.status_code == 200
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 200
    assert client.get("/api/v1/users/me", headers=bearer(other)).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": "new password 1"})
    assert login.status_code == 200


def test_delete_my_account(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    wrong = client.request("DELETE", "/api/v1/users/me", json={"password": "nope"}, headers=bearer(bob))
    assert wrong.status_code == 422
    assert (
        client.request(
            "DELETE", "/api/v1/users/me", json={"password": "correct horse battery"}, headers=bearer(bob)
        ).status_code
        == 204
    )
    assert client.get("/api/v1/users/me", headers=bearer(bob)).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": "correct horse battery"})
    assert login.status_code == 401


def test_the_only_admin_cannot_delete_themselves(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = client.request(
        "DELETE", "/api/v1/users/me", json={"password": "correct horse battery"}, headers=bearer(alice)
    )
    assert response.status_code == 409 and error_of(response)["code"] == "last_admin"


# -- pages ------------------------------------------------------------------------------------------


def test_account_page_edits_the_profile(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    page = client.get("/account", headers=HTML)
    assert page.status_code == 200 and 'value="Alice"' in page.text
    saved = post_form(
        client, "/account", {"display_name": "Alicia", "bio": "b", "content_tier": "sfw"}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert "Alicia" in client.get("/account?notice=saved", headers=HTML).text
    blank = post_form(client, "/account", {"display_name": "  "}, headers=HTML)
    assert blank.status_code == 422 and "must not be blank" in blank.text
    adult = post_form(client, "/account", {"content_tier": "adult"}, headers=HTML)
    assert adult.status_code == 403 and "verify your age" in adult.text


def test_account_page_verifies_age_and_changes_password(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    bad = post_form(client, "/account/verify-age", {"date_of_birth": "not a date"}, headers=HTML)
    assert bad.status_code == 422 and "invalid form input" in bad.text
    ok = post_form(
        client, "/account/verify-age", {"date_of_birth": years_ago(25), "content_tier": "adult"}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert client.get("/api/v1/users/me").json()["content_tier"] == "adult"
    changed = post_form(
        client,
        "/account/password",
        {"current_password": "correct horse battery", "new_password": "another long one"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert client.get("/api/v1/users/me").status_code == 200  # this browser session was kept


def test_preferences_page_saves_with_htmx_and_applies_the_theme(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    page = client.get("/account/preferences", headers=HTML)
    assert page.status_code == 200 and "data-theme-picker" in page.text and 'data-theme="system"' in page.text
    saved = post_form(
        client, "/account/preferences", {"theme": "light", "language": "en", "memory_visible": "on"}, htmx=True
    )
    assert saved.status_code == 200 and "Saved" in saved.text and "<html" not in saved.text
    prefs = client.get("/api/v1/users/me/preferences").json()
    assert prefs["theme"] == "light" and prefs["memory_visible"] is True and prefs["notifications_enabled"] is False
    assert 'data-theme="light"' in client.get("/", headers=HTML).text
    bad = post_form(client, "/account/preferences", {"theme": "neon"}, headers=HTML)
    assert bad.status_code == 422 and client.get("/api/v1/users/me/preferences").json()["theme"] == "light"


def test_delete_account_page(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    sign_in(client, "bob@example.com")
    unconfirmed = post_form(client, "/account/delete", {"password": "correct horse battery"}, headers=HTML)
    assert unconfirmed.status_code == 422
    done = post_form(
        client, "/account/delete", {"password": "correct horse battery", "confirm": "delete"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=account_deleted"
    assert client.get("/api/v1/users/me").status_code == 401


def test_verify_age_unit(services: Services) -> None:
    assert AgeVerification(date_of_birth=datetime.date(2000, 1, 1)).content_tier == "mature"
