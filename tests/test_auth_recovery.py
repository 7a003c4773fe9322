"""Forgotten passwords: reset links mailed through a real SMTP server (aiosmtpd, started here), single
use and expiring, the same answer for unknown addresses, and every session signed out by a reset."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.config import Settings
from tests.helpers import PASSWORD, bearer, error_of, free_port, make_settings, post_form

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"(http\S+/reset-password\?token=(\S+))")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 10) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"expected {count} mails, got {len(self.messages)}"
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def settings(smtp: tuple[Inbox, int]) -> Settings:
    return make_settings(
        email={"host": "127.0.0.1", "port": smtp[1], "starttls": False, "from_address": "Bostonia <noreply@test>"}
    )


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


def reset_token(message: Message) -> tuple[str, str]:
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = LINK.search(body)
    assert match, body
    return match.group(1), match.group(2)


def forgot(client: TestClient[Any], email: str) -> Any:
    return client.post("/api/v1/auth/forgot-password", json={"email": email})


def test_reset_by_mail_end_to_end(client: TestClient[Any], alice: dict[str, Any], inbox: Inbox) -> None:
    response = forgot(client, "alice@example.com")
    assert response.status_code == 202
    mail = inbox.wait()[0]
    assert mail["To"] == "alice@example.com" and mail["From"] == "Bostonia <noreply@test>"
    url, token = reset_token(mail)
    assert url.startswith("http://testserver.local/reset-password?token=")

    done = client.post("/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    # Every session of the account is signed out; the new password works, the old one does not.
    assert client.get("/api/v1/users/me", headers=bearer(alice)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": alice["refresh_token"]}).status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).status_code == 401
    )
    login = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 200
    # Single use.
    again = client.post("/api/v1/auth/reset-password", json={"token": token, "password": "yet another one!"})
    assert again.status_code == 422 and error_of(again)["code"] == "invalid_reset_token"


def test_unknown_email_gets_the_same_answer_and_no_mail(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], inbox: Inbox
) -> None:
    unknown = forgot(client, "nobody@example.com")
    known = forgot(client, "bob@example.com")
    assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
    inbox.wait(1)
    time.sleep(0.3)
    assert [m["To"] for m in inbox.messages] == ["bob@example.com"]


def test_one_mail_per_address_per_interval(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], inbox: Inbox
) -> None:
    forgot(client, "alice@example.com")
    inbox.wait(1)
    forgot(client, "alice@example.com")  # suppressed: a mail just went out
    forgot(client, "bob@example.com")
    inbox.wait(2)
    time.sleep(0.3)
    assert sorted(m["To"] for m in inbox.messages) == ["alice@example.com", "bob@example.com"]


def test_a_weak_password_does_not_spend_the_token(client: TestClient[Any], alice: dict[str, Any], inbox: Inbox) -> None:
    forgot(client, "alice@example.com")
    _, token = reset_token(inbox.wait()[0])
    weak = client.post("/api/v1/auth/reset-password", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and error_of(weak)["details"] == {"field": "password"}
    assert (
        client.post("/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}).status_code == 200
    )


def test_an_expired_token_is_refused(
    client: TestClient[Any], alice: dict[str, Any], inbox: Inbox, services: Services
) -> None:
    forgot(client, "alice@example.com")
    _, token = reset_token(inbox.wait()[0])
    services.db.write_sync(lambda conn: conn.execute("update password_resets set expires_at = '2000-01-01T00:00:00Z'"))
    expired = client.post("/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert expired.status_code == 422 and error_of(expired)["code"] == "invalid_reset_token"


def test_bad_reset_input_is_a_clear_4xx(client: TestClient[Any]) -> None:
    assert client.post("/api/v1/auth/reset-password", json={"token": "x"}).status_code == 400
    assert client.post("/api/v1/auth/forgot-password", json={"email": 5}).status_code == 400
    wrong = client.post("/api/v1/auth/reset-password", json={"token": "made up", "password": NEW_PASSWORD})
    assert wrong.status_code == 422


def test_the_reset_pages(client: TestClient[Any], alice: dict[str, Any], inbox: Inbox) -> None:
    page = post_form(client, "/forgot-password", {"email": "alice@example.com"}, headers={"accept": "text/html"})
    assert page.status_code == 200 and "reset link is on its way" in page.text
    url, token = reset_token(inbox.wait()[0])
    form = client.get(url.removeprefix("http://testserver.local"), headers={"accept": "text/html"})
    assert form.status_code == 200 and f'value="{token}"' in form.text
    weak = post_form(client, "/reset-password", {"token": token, "password": "x"}, headers={"accept": "text/html"})
    assert weak.status_code == 422 and "at least 8 characters" in weak.text
    done = post_form(client, "/reset-password", {"token": token, "password": NEW_PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=password_changed"
    assert "password was changed" in client.get("/login?notice=password_changed", headers={"accept": "text/html"}).text


def test_without_email_configured_the_answer_is_the_same() -> None:
    from bostonia.app import build_services, create_app
    from bostonia.plugins import make_plugin_manager

    plain = make_settings()
    app = create_app(plain, services=build_services(plain, make_plugin_manager([])))
    with TestClient(app) as client:
        response = forgot(client, "alice@example.com")
    assert response.status_code == 202 and "admin can create a link" in response.json()["message"]


def test_an_unreachable_smtp_server_is_logged_not_leaked(
    alice: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from bostonia.app import build_services, create_app
    from bostonia.plugins import make_plugin_manager

    broken = make_settings(email={"host": "127.0.0.1", "port": free_port(), "starttls": False})
    services = build_services(broken, make_plugin_manager([]))
    with TestClient(create_app(broken, services=services)) as client:
        client.post("/api/v1/auth/register", json={"email": "dana@example.com", "password": PASSWORD})
        assert forgot(client, "dana@example.com").status_code == 202
    # Shutting down waited for the mail task (Services.stop drains it).
    assert "password reset mail failed" in caplog.text
