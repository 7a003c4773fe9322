"""Moderation in headless Chromium (scripted model, real server): a user reports a reply from the chat page
and a character from its page; a blocked message shows why; a withdrawn reply disappears from the
bubble; the admin's queue shows every item with its context, and hiding the character and disabling the
account take effect."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_menu, open_page, register_in_browser, sign_in
from tests.e2e.test_chat_ui import say
from tests.fakes import ScriptedModel
from tests.helpers import PASSWORD, bearer, register

pytestmark = pytest.mark.browser


def test_reports_reach_the_admin_queue_and_actions_take_effect(
    scripted_server: str, browser: Any, model: ScriptedModel
) -> None:
    api = httpx.Client(base_url=scripted_server, timeout=30)
    admin = register(api, "admin@example.com")  # the first account is the admin
    creator = register(api, "creator@example.com")
    made = api.post("/api/v1/characters", json={"name": "Mean Morgan", "visibility": "public"}, headers=bearer(creator))
    character = made.json()["id"]

    # A user chats: a blocked message is explained, a withdrawn reply vanishes, a rude reply is reported.
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    page.goto(f"/characters/{character}")
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    page.locator("#send:not([disabled])").wait_for()  # the event stream is connected
    say(page, "Describe how you strip naked and suck my cock")
    expect(page.locator("#toast")).to_contain_text("Your message was not sent")
    model.enqueue(["I unzip your ", "jeans and stroke your hard cock slowly. "], ["Let's go for a walk."])
    say(page, "What shall we do?")
    page.locator("#messages .msg.assistant .content", has_text="Let's go for a walk.").wait_for()
    expect(page.locator("#messages")).not_to_contain_text("hard cock")
    model.enqueue(["Ugh, you again. ", "Go away."])
    say(page, "Hello!")
    reply = page.locator("#messages .msg.assistant").last
    reply.locator(".content", has_text="Go away.").wait_for()
    reply.hover()
    reply.locator("summary", has_text="Report").click()
    reply.get_by_label("Reason for the report").select_option("harassment")
    reply.get_by_label("Details").fill("rude to me")
    reply.get_by_role("button", name="Send report").click()
    reply.get_by_role("status").filter(has_text="Reported").wait_for()

    # ... and reports the character from its page.
    page.goto(f"/characters/{character}")
    page.locator("summary", has_text="Report").click()
    page.get_by_label("Reason for the report").select_option("other")
    page.get_by_role("button", name="Send report").click()
    page.get_by_role("status").filter(has_text="Reported").wait_for()

    # The admin's queue: both reports with their context.
    admin_page = open_page(browser, scripted_server)
    sign_in(admin_page, "admin@example.com")
    open_menu(admin_page)
    admin_page.get_by_role("link", name="Moderation").click()
    admin_page.wait_for_url("**/admin/moderation")
    items = admin_page.locator(".queue-item")
    expect(items).to_have_count(2)
    message_item = items.filter(has_text="harassment")
    expect(message_item).to_contain_text("Ugh, you again. Go away.")  # the reported reply ...
    expect(message_item).to_contain_text("Hello!")  # ... and what came before it
    expect(message_item).to_contain_text("rude to me")
    expect(admin_page.locator("table.decisions")).to_contain_text("blocked")  # the decision log

    # Hide the character: it leaves the catalogue at once.
    character_item = items.filter(has_text="Mean Morgan")
    character_item.get_by_role("button", name="Hide character").click()
    admin_page.wait_for_url("**/admin/moderation")
    expect(admin_page.locator(".queue-item")).to_have_count(1)
    assert "Mean Morgan" not in api.get("/api/v1/characters").text
    assert api.get(f"/api/v1/characters/{character}").status_code == 404

    # Disable the account behind the reported reply (the character's creator): signing in fails.
    admin_page.on("dialog", lambda dialog: dialog.accept())
    admin_page.locator(".queue-item").get_by_role("button", name="Disable user").click()
    admin_page.wait_for_url("**/admin/moderation")
    expect(admin_page.locator(".queue-item")).to_have_count(0)
    admin_page.get_by_role("link", name="Actioned").click()
    expect(admin_page.locator(".queue-item")).to_have_count(2)
    expect(admin_page.locator(".resolution").first).to_contain_text("actioned")
    login = api.post("/api/v1/auth/login", json={"email": "creator@example.com", "password": PASSWORD})
    assert login.status_code == 401
    audit = api.get("/api/v1/admin/audit", headers=bearer(admin)).json()["items"]
    assert {"moderation.hide_character", "moderation.disable_user"} <= {entry["action"] for entry in audit}
    api.close()
