"""The memory panel in headless Chromium: remember a message, write, pin, edit and forget memories, and the
panel hidden by the `memory_visible` preference."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_page, register_in_browser
from tests.e2e.test_chat_ui import say, start_chat
from tests.fakes import ScriptedModel

pytestmark = pytest.mark.browser


def test_the_memory_panel(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    chat = start_chat(page)
    panel = page.locator("#memory-panel")
    panel.get_by_text("Nothing remembered yet").wait_for()

    # "Remember this" on a message: it becomes a pinned memory.
    model.enqueue(["Lovely name."])
    say(page, "My cat is called Pickle.")
    mine = page.locator("#messages .msg.user", has_text="My cat is called Pickle.")
    mine.wait_for()
    page.locator("#messages .msg.assistant .content", has_text="Lovely name.").wait_for()
    mine.hover()
    mine.get_by_role("button", name="Remember this").click()
    memory = panel.locator(".memory", has_text="My cat is called Pickle.")
    memory.wait_for()
    expect(memory).to_have_class("memory pinned")

    # Write one by hand.
    panel.get_by_role("textbox", name="New memory").fill("Robin works night shifts at the bakery.")
    panel.get_by_role("button", name="Remember").click()
    written = panel.locator(".memory", has_text="Robin works night shifts at the bakery.")
    written.wait_for()

    # Unpin, edit, forget.
    written.get_by_role("button", name="Unpin memory").click()
    expect(panel.locator(".memory", has_text="night shifts")).to_have_class("memory")
    edited = panel.locator(".memory", has_text="night shifts")
    edited.get_by_text("Edit").click()
    edited.get_by_role("textbox", name="Memory text").fill("Robin works day shifts at the bakery.")
    edited.get_by_role("button", name="Save").click()
    panel.locator(".memory", has_text="day shifts").wait_for()
    expect(panel.locator(".memory", has_text="night shifts")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    panel.locator(".memory", has_text="day shifts").get_by_role("button", name="Forget memory").click()
    expect(panel.locator(".memory", has_text="day shifts")).to_have_count(0)
    expect(panel.locator(".memory")).to_have_count(1)

    # Hidden by preference (saved as soon as it changes).
    page.goto("/account/preferences")
    with page.expect_response(lambda response: "/account/preferences" in response.url):
        page.get_by_label("Show what characters remember").uncheck()
    page.goto(chat)
    page.locator("#memory-panel").get_by_text("Memories are hidden").wait_for()
    expect(page.locator("#memory-panel .memory")).to_have_count(0)
