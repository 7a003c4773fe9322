"""The catalogue in headless Chromium: live search on the discovery page, the builder (an alternate greeting,
a lore entry, a picture, the live preview), importing a PNG card through the import page and exporting it.

The chat model is not needed here: the server runs with the scripted stand-in."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.characters_support import CARDS
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(scripted_server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=scripted_server, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (no page-side eval: the CSP forbids it)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_up(page: Any, name: str = "Robin") -> None:
    page.goto("/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(f"{name.lower()}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/")


def card_names(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("#results .character-card h2").all_inner_texts()]


def test_live_search_tabs_and_tags(page: Any) -> None:
    page.goto("/")
    assert len(card_names(page)) == 3
    search = page.get_by_label("Search characters")
    search.press_sequentially("innkeep", delay=20)  # prefix, typed like a person
    # Each keystroke may answer on its way: wait for the whole word's answer (it is in the address bar,
    # so reload and share work).
    expect(page).to_have_url(re.compile(r"q=innkeep(&|$)"))
    expect(page.locator("#results .character-card")).to_have_count(1)
    assert card_names(page) == ["Juniper Ashdown"]
    search.fill("inkeeper")  # a typo
    expect(page.locator("#results .results-for")).to_contain_text("inkeeper")
    assert card_names(page) == ["Juniper Ashdown"]
    search.fill("")
    expect(page.locator("#results .results-for")).to_have_count(0)  # the cleared search answered
    page.get_by_role("link", name="New", exact=True).click()
    page.wait_for_selector("#results .tab.active:has-text('New')")
    assert len(card_names(page)) == 3
    page.locator(".chips .chip").first.click()
    page.wait_for_selector("#results .chip.active")
    assert 1 <= len(card_names(page)) <= 3


def test_builder_creates_a_character_with_an_alternate_greeting_and_lore(
    page: Any, scripted_server: str, tmp_path: Path
) -> None:
    sign_up(page)
    page.get_by_role("link", name="Create").click()
    page.wait_for_url("**/characters/new")
    page.get_by_label("Name", exact=True).fill("Nimbus")
    page.get_by_label("First message").fill("*drifts closer* Hello, {{user}}! I am {{char}}.")
    expect(page.locator("#preview")).to_contain_text("Hello, Robin! I am Nimbus.")

    page.get_by_role("button", name="Add alternate greeting").click()
    page.get_by_label("Alternate greeting").fill("Rain again, {{user}}?")
    page.get_by_role("button", name="Add lore entry").click()
    entry = page.locator(".lore-entry").last
    entry.locator("input[name=lore_keys]").fill("storm, thunder")
    entry.locator("textarea[name=lore_content]").fill("Storms are Nimbus's cousins.")
    page.get_by_role("button", name="Add lore entry").click()
    # The row arrives over HTMX: wait for it, or `.last` is still the filled entry.
    expect(page.locator(".lore-entry")).to_have_count(2)
    page.locator(".lore-entry").last.get_by_role("button", name="Remove entry").click()  # added by mistake
    expect(page.locator(".lore-entry")).to_have_count(1)
    page.get_by_label("Tags").fill("weather, cozy")
    page.locator("select[name=visibility]").select_option("public")
    picture = tmp_path / "nimbus.png"
    Image.new("RGB", (300, 300), (90, 120, 200)).save(picture)
    page.get_by_label("Picture").set_input_files(str(picture))
    page.get_by_role("button", name="Create character").click()

    page.wait_for_url("**/characters/*")
    assert page.locator("h1").inner_text() == "Nimbus"
    assert "Hello, Robin! I am Nimbus." in page.locator("blockquote.greeting").first.inner_text()
    page.get_by_text("1 alternate greeting").click()
    assert page.get_by_text("Rain again, Robin?").is_visible()
    assert page.locator("img.avatar.xlarge").get_attribute("src").startswith("/media/avatars/")
    character_id = page.url.rsplit("/", 1)[1]
    character = httpx.get(f"{scripted_server}/api/v1/characters/{character_id}").json()
    assert character["tags"] == ["weather", "cozy"] and character["lorebook_id"]


def _chunks(png: bytes) -> dict[str, bytes]:
    out, pos = {}, 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])[0]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            out[key.decode()] = value
        pos += 12 + length
    return out


def test_import_a_png_card_then_export_it(page: Any, tmp_path: Path) -> None:
    sign_up(page, "Casey")
    page.get_by_role("link", name="Import").click()
    page.wait_for_url("**/characters/import")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"<html>not a card</html>")
    page.get_by_label("Files").set_input_files([str(CARDS / "v3_aria.png"), str(broken)])
    page.get_by_role("button", name="Import").click()
    results = page.locator("#import-results")
    results.get_by_text("Imported 1 character; 1 file rejected").wait_for()
    assert "HTML document" in results.locator("li.rejected").inner_text()

    results.get_by_role("link", name="Aria Windsong").click()
    page.wait_for_url("**/characters/*")
    assert page.locator("h1").inner_text() == "Aria Windsong"
    assert "Welcome aboard, Casey!" in page.locator("blockquote.greeting").first.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PNG").click()
    download = download_info.value
    assert download.suggested_filename == "Aria Windsong.png"
    exported = Path(download.path()).read_bytes()
    chunks = _chunks(exported)
    v3 = json.loads(base64.b64decode(chunks["ccv3"]))
    assert json.loads(base64.b64decode(chunks["chara"]))["spec"] == "chara_card_v2"
    assert v3["data"]["name"] == "Aria Windsong" and len(v3["data"]["character_book"]["entries"]) == 2
    assert Image.open(io.BytesIO(exported)).size == (48, 64)
