"""Dashboards in headless Chromium (scripted model, real server): the admin dashboard's charts show the
numbers that were recorded, the creator studio charts a character's conversations, and a screenshot of
each is kept in tests/e2e/screenshots/ (git-ignored) for a human to look at."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import open_page
from tests.e2e.test_moderation_browser import sign_in
from tests.helpers import bearer, register

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).parent / "screenshots"


def bar_values(page: Any, chart_id: str) -> list[tuple[str, float]]:
    bars = page.locator(f"#{chart_id} rect.bar")
    return [(bar.get_attribute("data-label"), float(bar.get_attribute("data-value"))) for bar in bars.all()]


def test_dashboards_chart_what_was_recorded(scripted_server: str, browser: Any) -> None:
    with httpx.Client(base_url=scripted_server, timeout=30) as api:
        admin = register(api, "admin@example.com")
        carol = register(api, "carol@example.com")
        character = api.post(
            "/api/v1/characters",
            json={"name": "Charted", "greeting": "Hi!", "visibility": "public"},
            headers=bearer(carol),
        ).json()
        chatters = [admin, carol, *(register(api, f"fan{n}@example.com") for n in range(3))]
        for account in chatters:
            conversation = api.post(
                "/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(account)
            ).json()
            api.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "hi"}, headers=bearer(account)
            )
        deadline = time.monotonic() + 15  # the analytics writer flushes every second
        while api.get("/api/v1/admin/dashboard", headers=bearer(admin)).json()["active_users_today"] < 5:
            assert time.monotonic() < deadline, "the events never reached the dashboard"
            time.sleep(0.2)

    SCREENSHOTS.mkdir(exist_ok=True)
    page = open_page(browser, scripted_server)
    sign_in(page, "admin@example.com")
    page.goto("/admin")
    assert page.locator('[data-figure="active_users_today"] dd').first.inner_text() == "5"
    active = bar_values(page, "chart-active-users")
    assert len(active) == 30 and active[-1][1] == 5 and all(v == 0 for _, v in active[:-1])
    messages = bar_values(page, "chart-messages")
    assert sum(v for _, v in messages) == 10  # five sent, five replies, in the last hour
    page.screenshot(path=str(SCREENSHOTS / "admin-dashboard.png"), full_page=True)

    studio = open_page(browser, scripted_server)
    sign_in(studio, "carol@example.com")
    studio.goto("/studio/analytics?days=7")
    points = studio.locator('#chart-conversations circle.point[data-series="Charted"]')
    values = [float(p.get_attribute("data-value")) for p in points.all()]
    assert values[-1] == 5 and sum(values) == 5
    assert studio.locator('.figure[data-metric="conversations"] strong').inner_text() == "5"
    studio.screenshot(path=str(SCREENSHOTS / "studio-analytics.png"), full_page=True)
