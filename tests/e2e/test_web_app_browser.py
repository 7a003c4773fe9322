"""The web app as one product, in headless Chromium at phone and desktop sizes: every main page fits a
360 px screen without sideways scrolling, passes axe-core with no serious or critical violation, loads at
most 150 KB of JS and CSS, and is photographed into tests/e2e/screenshots/ (git-ignored) for a person to
look at. One server and one browser serve the whole module (each Chromium launch costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, register_in_browser
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, make_settings, register, serve_in_thread

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE = "/static/vendor/axe-core-4.14.1.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PAGE_WEIGHT_LIMIT = 150_000  # bytes of JS + CSS a page loads
PASSWORD = "correct horse battery"


@dataclass
class Site:
    url: str
    model: ScriptedModel
    chat: str  # a one-to-one chat of the admin's, with a few messages
    group: str  # a group chat of the admin's
    character: str  # a public character
    lorebook: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    model = ScriptedModel()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BOSTONIA_DATA_DIR", str(tmp_path_factory.mktemp("web") / "data"))
        settings = make_settings()
        plugins = make_plugin_manager([])
        plugins.register(ModelPlugin(model))
        app = create_app(settings, services=build_services(settings, plugins))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as api:
        admin = register(api, "ada@example.com", PASSWORD, "Ada")  # the first account is the admin
        characters = api.get("/api/v1/characters").json()["items"]
        chat = api.post("/api/v1/conversations", json={"character_id": characters[0]["id"]}, headers=bearer(admin))
        cid = chat.json()["id"]
        model.enqueue(["*tilts her head* Hello, **Ada**.\n\n```\nprint('hi')\n```"])
        sent = api.post(f"/api/v1/conversations/{cid}/messages", json={"content": "Hello!"}, headers=bearer(admin))
        assert sent.status_code == 201, sent.text
        group = api.post(
            "/api/v1/conversations",
            json={"character_ids": [c["id"] for c in characters[:2]]},
            headers=bearer(admin),
        )
        assert group.status_code == 201, group.text
        shelf = api.post("/api/v1/users/me/collections", json={"name": "Crew"}, headers=bearer(admin))
        assert shelf.status_code == 201, shelf.text
        book = api.post("/api/v1/lorebooks", json={"name": "Harbour"}, headers=bearer(admin))
        assert book.status_code == 201, book.text
        yield Site(url, model, cid, group.json()["id"], characters[0]["id"], book.json()["id"])


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in(chromium: Any, site: Site, viewport: dict[str, int], email: str = "ada@example.com") -> Any:
    context = chromium.new_context(base_url=site.url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")
    return page


def main_pages(site: Site) -> dict[str, str]:
    return {
        "discover": "/",
        "character": f"/characters/{site.character}",
        "chats": "/chats",
        "chat": f"/chats/{site.chat}",
        "group-chat": f"/chats/{site.group}",
        "create": "/characters/new",
        "import": "/characters/import",
        "personas": "/personas",
        "lorebooks": "/lorebooks",
        "lorebook": f"/lorebooks/{site.lorebook}",
        "favorites": "/favorites",
        "collections": "/collections",
        "studio": "/studio",
        "billing": "/billing",
        "account": "/account",
        "preferences": "/account/preferences",
        "api-keys": "/account/api-keys",
        "admin": "/admin",
        "admin-users": "/admin/users",
        "admin-moderation": "/admin/moderation",
        "admin-models": "/admin/models",
        "offline": "/offline",
    }


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is (loaded from our own static files: the
    CSP allows no inline script; page.evaluate runs outside it)."""
    page.add_script_tag(url=AXE)
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }"""
    )
    return list(found)


def wait_until_settled(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    if page.locator("#messages").count():
        page.locator("#send:not([disabled])").wait_for()  # the chat's event stream is connected


def test_every_main_page_fits_phones_passes_axe_and_stays_light(chromium: Any, site: Site) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = signed_in(chromium, site, viewport)
        weights: dict[str, int] = {}

        def count(response: Any, weights: dict[str, int] = weights) -> None:
            if response.request.resource_type in ("script", "stylesheet") and AXE not in response.url:
                weights[response.url] = len(response.body())

        page.on("response", count)
        for name, path in main_pages(site).items():
            weights.clear()
            page.goto(path)
            wait_until_settled(page)
            if size == "phone":
                for width in (360, 390):
                    page.set_viewport_size({"width": width, "height": PHONE["height"]})
                    wide = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
                    if wide[0] > wide[1]:
                        problems.append(f"{path} scrolls sideways at {width} px ({wide[0]} > {wide[1]})")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=name not in ("chat", "group-chat"))
            if sum(weights.values()) > PAGE_WEIGHT_LIMIT:
                problems.append(f"{path} loads {sum(weights.values())} bytes of JS and CSS")
            problems += [f"{path} at {size} size: {v}" for v in axe_violations(page)]
        page.context.close()
    assert not problems, "\n".join(problems)


def test_the_chat_by_keyboard_on_a_phone(chromium: Any, site: Site) -> None:
    """Enter sends and Shift+Enter does not, Escape stops a streaming reply, Left/Right swipe the last
    reply, Up edits your last message, Tab reaches every message's actions; the panels are a sheet."""
    page = signed_in(chromium, site, PHONE)
    page.goto(f"/chats/{site.chat}")
    wait_until_settled(page)
    assert not page.locator(".tabbar").is_visible()  # the chat is full-screen on a phone
    messages_height = page.locator("#messages").bounding_box()["height"]
    assert messages_height > 500, f"the message list is only {messages_height} px tall"

    box = page.get_by_role("textbox", name="Write a message")
    box.press_sequentially("One line")
    box.press("Shift+Enter")
    box.press_sequentially("and another")
    assert box.input_value() == "One line\nand another"  # not sent

    site.model.enqueue(["Swipe", " one."])
    box.press("Enter")
    page.locator("#messages .msg.assistant .content", has_text="Swipe one.").wait_for()
    assert box.input_value() == ""
    expect(page.locator("#reply-announcer")).to_have_text("Captain Mira Vance: Swipe one.")  # once, when complete

    # Right arrow (focus outside a text field) asks the last reply for a new alternative; left goes back.
    page.locator("#messages").focus()
    site.model.enqueue(["Swipe", " two."])
    page.keyboard.press("ArrowRight")
    page.locator("#messages .msg.assistant .content", has_text="Swipe two.").wait_for()
    page.locator("#messages .msg.assistant").last.locator(".swipe-count", has_text="2/2").wait_for()
    page.locator("#messages").focus()
    page.keyboard.press("ArrowLeft")
    page.locator("#messages .msg.assistant").last.locator(".swipe-count", has_text="1/2").wait_for()

    # Escape stops a reply that is still being written.
    gate = site.model.hold()
    box.fill("Tell me everything")
    box.press("Enter")
    page.locator(".msg.streaming .content", has_text="Hello").wait_for()
    box.press("Escape")
    page.locator(".msg.partial").last.wait_for()
    gate.set()
    site.model.gate = None

    # Up in the empty composer opens your last message for editing.
    box.focus()
    box.press("ArrowUp")
    editing = page.get_by_role("textbox", name="Edit message")
    editing.wait_for()
    assert editing.input_value() == "Tell me everything"
    editing.press("Escape")
    editing.wait_for(state="detached")

    # Tab reaches the actions of the greeting and of your own messages (they show on focus).
    greeting = page.locator("#messages > .msg").first
    page.mouse.move(0, 0)  # nothing hovered: only focus shows them
    greeting.get_by_role("button", name="Edit message").focus()
    page.wait_for_timeout(300)  # the fade-in
    assert page.evaluate("() => getComputedStyle(document.activeElement.closest('.tools')).opacity") == "1"

    # The panels are a bottom sheet: opened from the head, closed with Escape, focus back on the toggle.
    page.get_by_role("button", name="Panels").click()
    page.get_by_role("button", name="Close the panels").wait_for()
    assert page.locator("#memory-panel").is_visible()
    page.keyboard.press("Escape")
    page.locator("#chat-panels").wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.id") == "panels-toggle"
    page.context.close()


def test_persona_title_and_sampler_update_without_a_reload(chromium: Any, site: Site) -> None:
    page = signed_in(chromium, site, DESKTOP)
    page.goto("/personas")
    page.get_by_label("Name", exact=True).fill("Captain Vex")
    page.get_by_role("button", name="Create persona").click()
    page.get_by_text("Captain Vex").first.wait_for()
    page.goto(f"/characters/{site.character}")
    page.get_by_text("Add to collection").click()  # an HTMX partial, the character page stays
    page.get_by_role("button", name="Crew").click()
    page.get_by_text("Added to Crew.").wait_for()
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    wait_until_settled(page)
    title = page.get_by_role("textbox", name="Chat title")
    assert title.input_value() == ""

    site.model.enqueue(["Ahoy."])
    page.get_by_role("textbox", name="Write a message").fill("The lighthouse at dawn")
    page.get_by_role("button", name="Send").click()
    page.locator("#messages .msg.assistant .content", has_text="Ahoy.").wait_for()
    page.wait_for_timeout(300)
    assert "lighthouse" in title.input_value().lower()  # the first message named the chat

    page.locator("#chat-menu summary").click()
    page.get_by_label("Persona").select_option(label="Captain Vex")
    page.locator("#chat-persona", has_text="Captain Vex").wait_for()
    page.keyboard.press("Escape")
    site.model.enqueue(["Aye."])
    page.get_by_role("textbox", name="Write a message").fill("Hoist the sails")
    page.get_by_role("button", name="Send").click()
    mine = page.locator("#messages .msg.user").last
    mine.locator(".content", has_text="Hoist the sails").wait_for()
    assert mine.locator(".name").inner_text().startswith("Captain Vex")

    page.get_by_text("Model and sampler settings").click()
    temperature = page.get_by_label("Temperature")
    assert temperature.get_attribute("placeholder")  # the effective default is shown
    temperature.fill("0.3")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#sampler-panel .save-state", has_text="Saved").wait_for()
    page.context.close()


def with_virtual_authenticator(page: Any) -> tuple[Any, str]:
    """DevTools' WebAuthn domain: a platform authenticator that always verifies the user."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    options = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True}
    added = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {**options, "isUserVerified": True}})
    return devtools, added["authenticatorId"]


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_new_users_first_day(chromium: Any, site: Site, size: str) -> None:
    """Register → add a passkey → find a character in the catalogue → chat (the reply streams in) → swipe →
    the memory panel → a theme that applies → manifest and service worker → the offline page."""
    viewport = PHONE if size == "phone" else DESKTOP
    # WebAuthn refuses an IP address as the relying party: reach the server by name.
    context = chromium.new_context(base_url=site.url.replace("127.0.0.1", "localhost"), viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    devtools, authenticator = with_virtual_authenticator(page)
    register_in_browser(page, f"Noor {size}", f"noor-{size}@example.com")

    page.goto("/account")
    page.get_by_label("Name for a new passkey").fill("This phone")
    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkeys").get_by_text("This phone").wait_for()
    assert len(devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1

    # Discover: search the catalogue, open the character, start a chat.
    (page.locator(".tabbar") if size == "phone" else page.locator("nav.primary")).get_by_role(
        "link", name="Discover"
    ).click()
    page.get_by_role("searchbox", name="Search characters").fill("Mira")
    page.locator("#results .character-card", has_text="Captain Mira Vance").click()
    page.get_by_role("button", name="Start a new chat").click()
    page.wait_for_url("**/chats/*")
    wait_until_settled(page)

    # The reply streams in: the first piece shows while the rest is held back.
    gate = site.model.hold()
    site.model.enqueue(["Fair winds", " to you", ", Noor."])
    page.get_by_role("textbox", name="Write a message").fill("Where are we sailing?")
    page.get_by_role("button", name="Send").click()
    page.locator(".msg.streaming .content", has_text="Fair winds").wait_for()
    assert "Noor" not in page.locator(".msg.streaming .content").inner_text()
    gate.set()
    site.model.gate = None
    last_reply = page.locator("#messages .msg.assistant").last
    last_reply.locator(".content", has_text="Fair winds to you, Noor.").wait_for()
    expect(page.locator("#reply-announcer")).to_contain_text("Fair winds to you, Noor.")

    # Swipe: a second version of the reply, then back to the first.
    site.model.enqueue(["Calm seas", " ahead."])
    last_reply.get_by_role("button", name="New alternative").click()
    page.locator("#messages .msg.assistant .content", has_text="Calm seas ahead.").wait_for()
    page.locator("#messages .msg.assistant").last.locator(".swipe-count", has_text="2/2").wait_for()
    page.locator("#messages .msg.assistant").last.get_by_role("button", name="Previous alternative").click()
    page.locator("#messages .msg.assistant .content", has_text="Fair winds to you, Noor.").wait_for()

    # The memory panel: a sheet on a phone, a side column on a desktop.
    if size == "phone":
        page.get_by_role("button", name="Panels").click()
    panel = page.locator("#memory-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("textbox", name="New memory").fill("Noor is afraid of storms.")
    panel.get_by_role("button", name="Remember").click()
    panel.locator(".memory", has_text="Noor is afraid of storms.").wait_for()
    if size == "phone":
        page.keyboard.press("Escape")

    # The theme applies at once and stays after a reload (it is saved).
    page.goto("/account/preferences")
    with page.expect_response(lambda response: "/account/preferences" in response.url):
        page.get_by_label("Theme").select_option("dark")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(15, 17, 21)"
    with page.expect_response(lambda response: "/account/preferences" in response.url):
        page.get_by_label("Theme").select_option("light")
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 251)"

    # Installable: a manifest with icons, and a service worker that controls the app.
    manifest = page.request.get(page.locator("link[rel=manifest]").get_attribute("href"))
    assert manifest.ok and manifest.json()["icons"] and manifest.json()["start_url"]
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == page.url.split("/account")[0] + "/"

    # Offline: a page that cannot load is the offline page the service worker keeps.
    context.set_offline(True)
    page.goto("/chats")
    expect(page.get_by_role("heading", level=1)).to_contain_text("offline")
    context.set_offline(False)
    context.close()
