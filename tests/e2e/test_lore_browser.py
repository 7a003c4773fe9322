"""The lorebook editor in headless Chromium at phone width (scripted model, real server): create a book,
add an entry over HTMX, fill in its fields, save, see it saved; a bad regex is refused in place; the page
never scrolls sideways, and nothing trips the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import register_in_browser

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def test_edit_a_lorebook_on_a_phone(browser: Any, scripted_server: str) -> None:
    context = browser.new_context(base_url=scripted_server, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    register_in_browser(page)
    page.goto("/lorebooks")
    page.get_by_label("Name").first.fill("Skyreach")
    page.get_by_role("button", name="Create lorebook").click()
    page.wait_for_url("**/lorebooks/*")
    page.get_by_role("button", name="Add entry").click()
    entry = page.locator("details.lore-entry-card").first
    entry.locator('[name="keys"]').fill("Skyreach\nfloating city")
    entry.locator('[name="content"]').fill("Skyreach drifts above the Veil Sea.")
    entry.locator('[name="sticky"]').fill("2")
    entry.locator('[name="position"]').select_option("at_depth")
    entry.get_by_role("button", name="Save entry").click()
    page.get_by_text("Saved.").wait_for()
    saved = page.locator("details.lore-entry-card").first
    assert saved.locator('[name="sticky"]').input_value() == "2"
    assert saved.locator('[name="position"]').input_value() == "at_depth"
    saved.locator('[name="keys"]').fill("/(a+)+$/")
    saved.get_by_role("button", name="Save entry").click()
    page.get_by_text("Nothing was saved.").wait_for()
    assert "Skyreach" in page.locator("details.lore-entry-card").first.locator('[name="keys"]').input_value()
    wide = page.evaluate(
        """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
             .map(e => e.tagName + '.' + e.className + '#' + (e.getAttribute('name') || '')).slice(0, 12)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), wide
    page.reload()
    assert page.locator("details.lore-entry-card").count() == 1
    assert not problems, problems
    context.close()
