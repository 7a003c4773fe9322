"""A shared room in two real browsers (two users) with two characters, on the scripted model (so a reply can be
held mid-stream): both see the same streamed reply, the natural strategy answers with the character named,
typing and presence show, and a removed member's page stops updating while their API calls get 404."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_page, register_in_browser
from tests.fakes import ScriptedModel

pytestmark = pytest.mark.browser
ALDER, JUNIPER = "Professor Alder Quill", "Juniper Ashdown"


def say(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Write a message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_two_people_two_characters_in_one_room(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    owner = open_page(browser, scripted_server)
    register_in_browser(owner, "Olive", "olive@example.com")
    # A group chat with two characters, from the chats page.
    owner.goto("/chats")
    owner.get_by_text("New group chat").click()
    owner.get_by_role("checkbox", name=JUNIPER).check()
    owner.get_by_role("checkbox", name=ALDER).check()
    owner.get_by_label("Name", exact=True).fill("The study")
    owner.get_by_role("button", name="Start the group chat").click()
    owner.wait_for_url("**/chats/*")
    owner.locator("#send:not([disabled])").wait_for()
    cid = owner.url.rsplit("/", 1)[1]
    expect(owner.locator("#group-members li")).to_have_count(2)
    expect(owner.locator("#messages .msg.assistant")).to_have_count(2)  # each member greets

    # An invite link, opened by a second person in another browser context.
    owner.get_by_role("button", name="Create an invite link").click()
    link = owner.get_by_label("Invite link")
    link.wait_for()
    url = link.input_value()
    guest = open_page(browser, scripted_server)
    register_in_browser(guest, "Gus", "gus@example.com")
    guest.goto(url)
    guest.get_by_role("button", name="Join the chat").click()
    guest.wait_for_url(f"**/chats/{cid}")
    guest.locator("#send:not([disabled])").wait_for()

    # Presence: each sees the other here.
    expect(owner.locator("#presence")).to_contain_text("Gus")
    expect(guest.locator("#presence")).to_contain_text("Olive")
    expect(owner.locator("#room-people li.online")).to_have_count(2)

    # Typing shows on the other person's page, with their name.
    guest.get_by_role("textbox", name="Write a message").press_sequentially("Prof")
    expect(owner.locator("#typing-indicator")).to_have_text("Gus is typing…")

    # The guest names a character; both pages stream the same reply from that character.
    gate = model.hold()
    model.enqueue(["Indeed", ", a fine", " question."])
    say(guest, "Professor Alder, what do you think?")
    for page in (owner, guest):
        page.locator("#messages .msg.user .content", has_text="what do you think").wait_for()
        streaming = page.locator("#messages .msg.streaming")
        expect(streaming.locator(".name")).to_have_text(ALDER)
        expect(streaming.locator(".content")).to_have_text("Indeed")  # mid-stream: held after the first piece
    gate.set()
    model.gate = None
    for page in (owner, guest):
        reply = page.locator("#messages .msg.assistant").last
        expect(reply.locator(".content")).to_have_text("Indeed, a fine question.")
        expect(reply.locator(".name")).to_contain_text(ALDER)
    expect(owner.locator("#messages .msg.user.other .name")).to_contain_text("Gus")  # whose message it was

    # The owner removes the guest: their page stops updating, their API calls are 404.
    owner.once("dialog", lambda dialog: dialog.accept())
    owner.get_by_role("button", name="Remove Gus").click()
    expect(guest.locator("#composer")).to_contain_text("no longer in this room")
    expect(owner.locator("#room-people li")).to_have_count(1)
    shown = guest.locator("#messages .msg").count()
    model.enqueue(["Only", " for", " Olive."])
    say(owner, "Juniper, are we alone now?")
    owner.locator("#messages .msg.assistant .content", has_text="Only for Olive.").wait_for()
    expect(owner.locator("#messages .msg.assistant").last.locator(".name")).to_contain_text(JUNIPER)
    guest.wait_for_timeout(500)
    assert guest.locator("#messages .msg").count() == shown
    assert guest.locator("text=Only for Olive.").count() == 0
    for path in (f"/api/v1/conversations/{cid}", f"/api/v1/conversations/{cid}/messages"):
        assert guest.request.get(path).status == 404
    assert owner.request.get(f"/api/v1/conversations/{cid}").status == 200
