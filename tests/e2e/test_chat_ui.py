"""The chat engine's UI in headless Chromium, on the scripted model (so a reply can be held and stopped):
swipes, stop, edit, delete, branch, the sampler panel, the prompt view, two tabs in step."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_page, register_in_browser
from tests.fakes import ScriptedModel

pytestmark = pytest.mark.browser


def start_chat(page: Any) -> str:
    page.locator(".character-card", has_text="Juniper Ashdown").click()
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    page.locator("#send:not([disabled])").wait_for()  # the event stream is connected
    return str(page.url)


def say(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Write a message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_swipes_stop_edit_branch(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    start_chat(page)

    model.enqueue(["First", " answer."])
    say(page, "Hello there")
    last = page.locator("#messages .msg.assistant").last
    last.locator(".content", has_text="First answer.").wait_for()

    # Swipe right on the last reply asks for a new alternative; left/right moves between them.
    model.enqueue(["Second", " answer."])
    last.hover()
    page.get_by_role("button", name="New alternative").click()
    page.locator("#messages .msg.assistant .content", has_text="Second answer.").wait_for()
    expect(page.locator("#messages .msg.assistant").last.locator(".swipe-count")).to_have_text("2/2")
    page.get_by_role("button", name="Previous alternative").last.click()
    page.locator("#messages .msg.assistant .content", has_text="First answer.").wait_for()
    expect(page.locator("#messages .msg.assistant").last.locator(".swipe-count")).to_have_text("1/2")

    # Stop: the reply is held after its first piece; Stop keeps what was written, marked as stopped.
    gate = model.hold()
    say(page, "Tell me a long story")
    page.locator(".msg.streaming .content", has_text="Hello").wait_for()
    stop = page.get_by_role("button", name="Stop")
    assert stop.is_visible()
    stop.click()
    page.locator(".msg.partial .content", has_text="Hello").wait_for()
    expect(page.locator(".msg.streaming")).to_have_count(0)
    stop.wait_for(state="hidden")
    gate.set()
    model.gate = None

    # Edit the user's message in place.
    user_message = page.locator("#messages .msg.user").last
    user_message.hover()
    user_message.get_by_role("button", name="Edit message").click()
    page.get_by_role("textbox", name="Edit message").fill("Tell me a short story")
    page.get_by_role("button", name="Save").click()
    page.locator("#messages .msg.user .content", has_text="Tell me a short story").wait_for()

    # Branch from the first reply: a new chat with the history up to there.
    first_reply = page.locator("#messages .msg.assistant").nth(1)
    first_reply.hover()
    first_reply.get_by_role("button", name="Branch from here").click()
    expect(page.locator("#messages .msg")).to_have_count(3)
    expect(page.locator("#messages .msg.user")).to_have_count(1)
    page.locator("#branches summary").click()
    expect(page.locator("#branches li")).to_have_count(2)


def test_two_tabs_stay_in_step(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    first = open_page(browser, scripted_server)
    register_in_browser(first)
    url = start_chat(first)
    second = first.context.new_page()
    second.goto(url)
    second.locator("#send:not([disabled])").wait_for()

    second.get_by_role("textbox", name="Write a message").press_sequentially("hel")
    first.locator("#typing-indicator", has_text="typing").wait_for()  # the other tab is typing

    model.enqueue(["Seen", " in", " both", " tabs."])
    say(first, "Hello from tab one")
    for page in (first, second):
        page.locator("#messages .msg.user .content", has_text="Hello from tab one").wait_for()
        page.locator("#messages .msg.assistant .content", has_text="Seen in both tabs.").wait_for()


def test_sampler_panel_and_prompt_view(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    start_chat(page)
    page.get_by_text("Sampler settings").click()
    page.get_by_label("Temperature").fill("0.25")
    page.get_by_label("Max tokens").fill("42")
    with page.expect_response(lambda response: response.request.method == "PATCH" and "/settings" in response.url):
        page.get_by_role("button", name="Save settings").click()
    say(page, "Hi")
    page.locator("#messages .msg.assistant .content", has_text="scripted model").wait_for()
    assert model.params[-1].temperature == 0.25 and model.params[-1].max_tokens == 42

    page.get_by_text("Prompt", exact=True).click()
    page.locator(".prompt-view tr.section-system").wait_for()
    expect(page.locator(".prompt-view tr.section-card")).to_have_count(1)
    assert "Juniper" in page.locator(".prompt-view").inner_text()


def test_a_replys_thinking_is_folded_away(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    """A reasoning model's `<think>` block streams in as text, then folds into a closed "Thoughts" above
    the reply; opening it shows the thinking."""
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    start_chat(page)
    model.enqueue(["<think>Plan: greet", " them warmly.</think>", "\n\nWelcome *smiles*!"])
    say(page, "Hello there")
    reply = page.locator("#messages .msg.assistant:not(.streaming)").last
    thoughts = reply.locator("details.thinking")
    thoughts.wait_for()
    expect(reply.locator(".content > p").last).to_have_text("Welcome smiles!")
    expect(thoughts.locator("p")).not_to_be_visible()  # closed
    thoughts.locator("summary", has_text="Thoughts").click()
    expect(thoughts.locator("p")).to_have_text("Plan: greet them warmly.")
    expect(thoughts.locator("p")).to_be_visible()
