"""Accounts in headless Chromium (scripted model, real server): register → sign out → sign in → change
the theme (it applies at once and sticks) → sign out; a forged form and a forged HTMX request are
refused; too many requests show the 429 page. Nothing trips the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import make_settings, serve_in_thread

pytestmark = pytest.mark.browser

DARK, LIGHT = "rgb(15, 17, 21)", "rgb(246, 247, 251)"
PASSWORD = "correct horse battery"


def server(**overrides: Any) -> Any:
    settings = make_settings(**overrides)
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    return serve_in_thread(create_app(settings, services=build_services(settings, plugins)))


def open_page(browser: Any, base_url: str) -> tuple[Any, list[str]]:
    context = browser.new_context(base_url=base_url, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    return page, problems


def background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def register_and_sign_in(page: Any) -> None:
    page.goto("/register")
    page.get_by_label("Name").fill("Robin")
    page.get_by_label("Email").fill("robin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").first.wait_for()
    page.goto("/login")
    page.get_by_label("Email").fill("robin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Robin").wait_for()


def test_register_login_change_theme_logout(browser: Any) -> None:
    with server() as url:
        page, problems = open_page(browser, url)
        register_and_sign_in(page)
        assert background(page) == LIGHT  # "system" follows the (light) OS setting

        page.get_by_role("link", name="Robin").click()
        page.get_by_role("link", name="Preferences").click()
        page.wait_for_url("**/account/preferences")
        page.get_by_label("Theme").select_option("dark")
        assert background(page) == DARK  # at once, before any reload
        page.get_by_text("Saved.").wait_for()
        page.reload()
        assert page.get_by_label("Theme").input_value() == "dark" and background(page) == DARK
        page.goto("/")
        assert background(page) == DARK  # every page follows the preference
        page.goto("/account/preferences")
        page.get_by_label("Theme").select_option("light")
        assert background(page) == LIGHT

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").first.wait_for()
        assert page.get_by_role("link", name="Robin").count() == 0
        page.goto("/account")
        page.wait_for_url("**/login?next=/account")
        assert problems == []


def test_forged_form_and_htmx_requests_are_refused(browser: Any) -> None:
    with server() as url:
        page, problems = open_page(browser, url)
        register_and_sign_in(page)
        page.goto("/account")
        page.evaluate("document.querySelector('form[action=\"/account\"] input[name=_csrf_token]').value = 'forged'")
        page.get_by_label("Name").fill("Mallory")
        page.get_by_role("button", name="Save profile").click()
        page.get_by_text("CSRF token missing or invalid").wait_for()
        page.goto("/account")
        assert page.get_by_label("Name").input_value() == "Robin"

        page.goto("/account/preferences")
        page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'x-csrftoken': 'forged'}))")
        page.get_by_label("Theme").select_option("dark")
        page.locator("#toast", has_text="CSRF token missing or invalid").wait_for()
        page.reload()
        assert page.get_by_label("Theme").input_value() == "system"
        assert problems == []


def test_too_many_requests_show_the_429_page(browser: Any) -> None:
    with server(rate_limits={"anonymous": 4}) as url:
        page, _ = open_page(browser, url)
        statuses = [page.goto("/").status for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        assert page.get_by_role("heading", name="429").is_visible()
        assert page.get_by_text("rate limit exceeded").is_visible()
        assert background(page) == LIGHT  # styles still load: static files are not limited
