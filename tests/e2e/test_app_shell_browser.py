"""The installable app in Chromium: the service worker takes control, and with the network gone a
navigation shows the offline page instead of the browser's error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import open_page

pytestmark = pytest.mark.browser


def test_service_worker_serves_the_offline_page(browser: Any, scripted_server: str) -> None:
    page = open_page(browser, scripted_server)
    page.goto("/")
    # The first load installs the worker; it claims the page once activated (page.evaluate: the CSP forbids
    # the eval that wait_for_function needs).
    deadline = time.monotonic() + 30
    while not page.evaluate("() => !!(navigator.serviceWorker && navigator.serviceWorker.controller)"):
        assert time.monotonic() < deadline, "the service worker never took control"
        page.wait_for_timeout(200)
    page.context.set_offline(True)
    try:
        page.goto("/chats")
        assert page.get_by_role("heading", name="You are offline").is_visible()
        page.goto("/static/app.css?v=0.1.0")  # static files come from the cache
        assert "body" in page.content()
    finally:
        page.context.set_offline(False)
