"""Voice in headless Chromium on the scripted model: the chat page speaks a reply while it is still being
written (audio frames counted by the page's test hook as they arrive, not by listening), the play button,
the auto-play preference; push-to-talk and a call with Chromium's fake microphone playing a piper recording."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, open_page, register_in_browser
from tests.fakes import ScriptedModel
from tests.helpers import bearer, register

pytestmark = pytest.mark.browser
STORY = "The knight drew his sword. It gleamed in the morning sun. Then he rode away to the north!"


def start_chat(page: Any) -> None:
    page.locator(".character-card", has_text="Juniper Ashdown").click()
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    page.locator("#send:not([disabled])").wait_for()  # the event stream is connected


def say(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Write a message").fill(text)
    page.get_by_role("button", name="Send").click()


def pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])]


def hook(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.bostoniaVoice"))


def wait_until(page: Any, condition: str, timeout: float = 30) -> None:
    """Poll `condition` (a JavaScript expression) with evaluate: the CSP forbids the eval that
    Playwright's wait_for_function would use."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}: {hook(page)}")
        page.wait_for_timeout(50)


def voice_ready(page: Any) -> None:
    page.locator("body.voice-ready #voice-bar.connected").wait_for()


def test_the_chat_speaks_a_reply_while_it_streams(scripted_server: str, browser: Any, model: ScriptedModel) -> None:
    page = open_page(browser, scripted_server)
    register_in_browser(page)
    start_chat(page)
    voice_ready(page)
    read_aloud = page.locator("#voice-autoplay")
    expect(read_aloud).to_have_attribute("aria-pressed", "false")
    read_aloud.click()
    wait_until(page, "window.bostoniaVoice.following !== null")

    model.enqueue(pieces(STORY))
    model.delay = 0.3  # 18 pieces: the reply takes over 5 s to write
    say(page, "Tell me a story")
    wait_until(page, "window.bostoniaVoice.frames >= 1")
    assert page.locator(".msg.streaming").count() == 1, "the first audio came only after the reply was written"
    first = hook(page)
    assert first["framesWhileStreaming"] >= 1 and first["bytes"] > 22050  # ≥ 0.5 s of 16-bit audio
    assert first["sentences"][0]["text"] == "The knight drew his sword."
    expect(page.locator(".msg.streaming")).to_have_count(0, timeout=30_000)
    wait_until(page, "window.bostoniaVoice.frames >= 3", 30)
    done = hook(page)
    assert [s["index"] for s in done["sentences"]] == [0, 1, 2]
    assert done["bytes"] > 3 * 22050 * 2 * 0.8  # three sentences of at least 0.8 s each

    # The choice is the user's preference: a new visit starts with it on.
    page.reload()
    voice_ready(page)
    expect(page.locator("#voice-autoplay")).to_have_attribute("aria-pressed", "true")

    # The play button on a message reads that message.
    reply = page.locator("#messages .msg.assistant").last
    reply.hover()
    reply.get_by_role("button", name="Read aloud").click()
    wait_until(page, "window.bostoniaVoice.frames >= 3")
    assert hook(page)["sentences"][0]["text"] == "The knight drew his sword."


@pytest.fixture
def recording(scripted_server: str, tmp_path: Path) -> Path:
    """A piper recording of a question, for Chromium's fake microphone."""
    with httpx.Client(base_url=scripted_server, timeout=60) as client:
        account = register(client, "recorder@example.com")
        audio = client.post(
            "/api/v1/voice/synthesize",
            json={"text": "Could you tell me about the old castle on the hill?", "voice_id": "en_US-joe-medium"},
            headers=bearer(account),
        )
    assert audio.status_code == 200
    path = tmp_path / "question.wav"
    path.write_bytes(audio.content)
    return path


@pytest.fixture
def microphone_browser(recording: Path) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    fake_microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={recording}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *fake_microphone])
        yield browser
        browser.close()


def test_push_to_talk_and_a_call(scripted_server: str, microphone_browser: Any, model: ScriptedModel) -> None:
    page = open_page(microphone_browser, scripted_server)
    page.context.grant_permissions(["microphone"])
    register_in_browser(page)
    start_chat(page)
    voice_ready(page)
    talk = page.locator("#voice-talk")
    talk.click()
    expect(talk).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(4500)  # the fake microphone plays the question
    talk.click()
    box = page.get_by_role("textbox", name="Write a message")
    expect(box).to_have_value(re.compile("castle", re.IGNORECASE), timeout=60_000)

    # A call: talking sends the message, and the reply is spoken sentence by sentence.
    box.fill("")
    page.locator("#voice-call").click()
    wait_until(page, "window.bostoniaVoice.following !== null")
    model.enqueue(pieces("The castle is very old. Kings lived there."))
    talk.click()
    page.wait_for_timeout(4500)
    talk.click()
    page.locator("#messages .msg.user .content", has_text="castle").wait_for(timeout=60_000)
    wait_until(page, "window.bostoniaVoice.frames >= 2", 60)
    assert [s["text"] for s in hook(page)["sentences"]][:2] == ["The castle is very old.", "Kings lived there."]
