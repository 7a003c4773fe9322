"""Two people chat at once on the real bundled model, each in their own browser: both replies stream at the
same time (the engine batches them) instead of one waiting for the other's whole reply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.plugins import make_plugin_manager
from tests.conftest import serve_in_thread
from tests.e2e.conftest import open_page, register_in_browser
from tests.e2e.test_chat_ui import say, start_chat

pytestmark = [pytest.mark.browser, pytest.mark.model]


# In the page: when the streaming reply first shows a word, and when it stops streaming (wall-clock
# milliseconds, so the two browser contexts' times compare).
RECORD_STREAMING = """() => {
  window.streamed = {seen: false, first: null, end: null};
  const note = () => {
    const streaming = document.querySelector("#messages .msg.streaming .content");
    if (streaming) window.streamed.seen = true;
    if (streaming && window.streamed.first === null && /\\w/.test(streaming.textContent)) {
      window.streamed.first = Date.now();
    }
    if (!streaming && window.streamed.seen && window.streamed.end === null) window.streamed.end = Date.now();
  };
  new MutationObserver(note).observe(document.getElementById("messages"),
                                     {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def two_slot_server() -> Iterator[str]:
    # Replies long enough (seconds, even on an idle machine) to overlap.
    overrides = {"llm": {"max_tokens": 200, "parallel": 2}}
    settings = load_settings(None, overrides=overrides)
    app = create_app(settings, services=build_services(settings, make_plugin_manager([])))
    with serve_in_thread(app) as url:
        yield url


@pytest.mark.timeout(900)
def test_two_users_replies_stream_at_the_same_time(two_slot_server: str, browser: Any) -> None:
    robin = open_page(browser, two_slot_server)
    sam = open_page(browser, two_slot_server)  # a second browser context: its own cookies, its own account
    register_in_browser(robin, "Robin", "robin@example.com")
    register_in_browser(sam, "Sam", "sam@example.com")
    for page in (robin, sam):
        start_chat(page)

    for page in (robin, sam):
        page.evaluate(RECORD_STREAMING)
    say(robin, "Tell me the long story of your life, from your childhood on, in great detail.")
    say(sam, "Describe every room of your home, one by one, in great detail.")

    # (A shared CI machine can be slow: the waits are generous; the check is the order of events, not speed.)
    for page in (robin, sam):
        # The greeting and the finished reply (just after Send, nothing streams yet: that is not the end).
        expect(page.locator("#messages .msg.assistant:not(.streaming)")).to_have_count(2, timeout=400_000)
        expect(page.locator("#messages .msg.streaming")).to_have_count(0)
        assert page.locator("#messages .msg.assistant .content").last.inner_text().strip()
    robin_streamed, sam_streamed = (page.evaluate("window.streamed") for page in (robin, sam))
    assert robin_streamed["first"] and sam_streamed["first"], "a reply came whole, without streaming"
    # Each reply showed its first words before the other's finished: they ran side by side, not one after the
    # other (which of the two shows text first is up to the scheduler and the machine, so neither is required).
    assert robin_streamed["first"] < sam_streamed["end"], (robin_streamed, sam_streamed)
    assert sam_streamed["first"] < robin_streamed["end"], (robin_streamed, sam_streamed)
