"""The walking skeleton in headless Chromium: register, pick a character, watch a real reply stream in,
reload, find the chat again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import open_page, register_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.model]


@pytest.fixture
def page(real_server: str, browser: Any) -> Any:
    return open_page(browser, real_server)


# Records every length the streaming reply's text takes, so the test can tell streaming from one blob.
WATCH_STREAM = """
() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const el = document.querySelector('.msg.streaming .content');
    if (el) window.__lengths.push(el.textContent.length);
  }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
}
"""


def test_register_chat_stream_and_come_back(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="Create account").click()
    page.wait_for_url("**/register")
    register_in_browser(page)
    assert page.locator(".character-card").count() >= 3
    assert page.get_by_text("Robin").is_visible()

    page.locator(".character-card").first.click()
    greeting = page.locator("blockquote.greeting").inner_text()
    assert len(greeting) > 20
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    chat_url = page.url
    assert page.locator(".msg.assistant .content").first.inner_text().strip()[:20] == greeting.strip()[:20]

    page.evaluate(WATCH_STREAM)
    page.get_by_role("textbox", name="Write a message").fill("Hello! Tell me about yourself.")
    page.get_by_role("button", name="Send").click()
    page.locator(".msg.user .content", has_text="Hello! Tell me about yourself.").wait_for()
    page.locator(".msg.streaming").wait_for(state="detached", timeout=120_000)  # the stream finished
    lengths = page.evaluate("window.__lengths")
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, f"reply did not stream token by token: {lengths}"
    reply = page.locator(".msg.assistant .content").last.inner_text()
    assert reply.strip()

    page.reload()
    assert page.locator(".msg.user .content", has_text="Hello! Tell me about yourself.").count() == 1
    assert page.locator(".msg.assistant .content").last.inner_text().strip() == reply.strip()

    page.get_by_role("link", name="Chats", exact=True).click()
    page.wait_for_url("**/chats")
    assert page.locator(f'a[href="{urlsplit(chat_url).path}"]').count() == 1
