"""The HTML pages through the app (the browser flow itself is in e2e/test_browser.py)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.helpers import PASSWORD, post_form

HTML = {"accept": "text/html"}


def sign_in(client: TestClient[Any]) -> None:
    response = post_form(
        client,
        "/register",
        data={"email": "web@example.com", "password": PASSWORD, "display_name": "Webby"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_home_lists_characters_for_anyone(client: TestClient[Any]) -> None:
    page = client.get("/", headers=HTML)
    assert page.status_code == 200 and "htmx-2.0.11.min.js" in page.text
    assert page.text.count('class="card character-card"') == 3
    assert "Sign in" in page.text


def test_static_vendor_files_are_served(client: TestClient[Any]) -> None:
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200 and "htmx" in response.text[:2000]
    assert "max-age" in response.headers["cache-control"]


def test_chat_pages_need_a_session(client: TestClient[Any]) -> None:
    response = client.get("/chats", headers=HTML, follow_redirects=False)
    assert response.status_code in (302, 303, 307) and response.headers["location"].startswith("/login?next=/chats")


def test_register_page_shows_errors_and_keeps_input(client: TestClient[Any]) -> None:
    page = post_form(client, "/register", {"email": "bad", "password": PASSWORD, "display_name": "Zed"})
    assert page.status_code == 422 and "not a valid address" in page.text and 'value="Zed"' in page.text


def test_full_chat_flow_in_html(client: TestClient[Any]) -> None:
    sign_in(client)
    character = client.get("/api/v1/characters").json()["items"][0]
    page = client.get(f"/characters/{character['id']}", headers=HTML)
    assert character["name"] in page.text and "Start a new chat" in page.text
    started = post_form(client, f"/characters/{character['id']}/chat", follow_redirects=False)
    chat_url = started.headers["location"]
    assert chat_url.startswith("/chats/")
    chat = client.get(chat_url, headers=HTML)
    assert 'id="composer"' in chat.text and 'class="msg assistant"' in chat.text

    sent = post_form(client, f"{chat_url}/messages", {"content": "Hello <b>there</b>"}, htmx=True)
    assert sent.status_code == 204  # the page's event stream shows the exchange
    for _ in range(100):  # the reply is generated in the background
        reloaded = client.get(chat_url, headers=HTML).text
        if "Hello from the scripted model." in reloaded:
            break
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in reloaded and "Hello from the scripted model." in reloaded
    listing = client.get("/chats", headers=HTML).text
    assert character["name"] in listing and chat_url in listing


def test_someone_elses_chat_page_is_404(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = client.get("/api/v1/characters").json()["items"][0]
    conversation = client.post(
        "/api/v1/conversations",
        json={"character_id": character["id"]},
        headers={"Authorization": f"Bearer {alice['access_token']}"},
    ).json()
    sign_in(client)
    page = client.get(f"/chats/{conversation['id']}", headers=HTML)
    assert page.status_code == 404 and "conversation not found" in page.text
