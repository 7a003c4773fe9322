"""Analytics events: recorded off the request path in batches, with no content or personal data, kept per
the retention settings; the admin dashboard's figures and the SVG charts that show them."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.analytics.charts import bar_chart, line_chart
from bostonia.analytics.recorder import EventRecorder, checked
from bostonia.app import Services
from bostonia.config import AnalyticsConfig
from tests.helpers import HTML, bearer, new_conversation, register


def events(services: Services) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute("select name, actor, character_id, properties, created_at from analytics_events").fetchall()
        return [dict(zip(("name", "actor", "character_id", "properties", "created_at"), r, strict=True)) for r in rows]

    return services.db.read_sync(read)


def wait_for_events(services: Services, count: int) -> list[dict[str, Any]]:
    """The app's writer flushes every `flush_seconds` (1 s): wait for it rather than race it."""
    deadline = time.monotonic() + 15
    while len(found := events(services)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_events_carry_only_their_declared_properties() -> None:
    assert checked("message_sent", {"sender": "user", "tokens": 3}) == {"sender": "user", "tokens": 3}
    with pytest.raises(ValueError, match="cannot carry"):
        checked("message_sent", {"content": "my secret"})
    with pytest.raises(ValueError, match="unknown"):
        checked("page_scrolled", {})
    with pytest.raises(ValueError, match="scalar"):
        checked("feature_used", {"feature": ["a"]})
    assert checked("feature_used", {"feature": "x" * 500})["feature"] == "x" * 64


def test_chatting_records_events_without_content_or_identity(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    conversation = new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    client.post(url, json={"content": "my very private words"}, headers=bearer(alice))
    found = wait_for_events(services, 3)
    names = sorted(e["name"] for e in found)
    assert names == ["conversation_started", "message_sent", "message_sent"]
    dump = repr(found) + repr(services.db.read_sync(lambda c: c.execute("select * from analytics_daily").fetchall()))
    assert "private words" not in dump and alice["user"]["id"] not in dump and "alice" not in dump
    actors = {e["actor"] for e in found}
    assert len(actors) == 1 and None not in actors  # one pseudonym for the account
    reply = next(e for e in found if '"character"' in e["properties"])
    assert re.search(r'"response_ms":\d+', reply["properties"]) and '"model":"scripted"' in reply["properties"]


def test_the_writer_batches_and_deleting_an_account_anonymises_its_events(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    bob = register(client, "bob@example.com")
    recorder = EventRecorder(services.db, AnalyticsConfig(batch_size=100, flush_seconds=60))
    for n in range(250):
        recorder.record("feature_used", user_id=bob["user"]["id"], feature=f"f{n % 3}")
    assert recorder.pending == 250 and recorder.batches_written == 0  # recording wrote nothing
    assert asyncio.run(recorder.flush()) == 250
    assert recorder.batches_written == 3  # 100 + 100 + 50: three transactions, not 250
    before = [e for e in events(services) if e["name"] == "feature_used"]
    assert len({e["actor"] for e in before}) == 1
    client.request("DELETE", "/api/v1/users/me", json={"password": "correct horse battery"}, headers=bearer(bob))
    pseudonyms = services.db.read_sync(lambda c: c.execute("select count(*) from analytics_actors").fetchone()[0])
    assert pseudonyms <= 1  # bob's is gone (alice's may exist); his events stay, as nobody's
    assert len([e for e in events(services) if e["name"] == "feature_used"]) == 250


def test_retention_forgets_old_events(services: Services, client: TestClient[Any]) -> None:
    old = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    services.db.write_sync(
        lambda conn: conn.executemany(
            "insert into analytics_events (name, properties, created_at) values ('feature_used', '{}', ?)",
            [(old,), (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),)],
        )
    )
    recorder = EventRecorder(services.db, AnalyticsConfig(retention_days=90))
    assert asyncio.run(recorder.purge()) == (1, 0)
    assert len(events(services)) == 1


def test_charts_carry_their_values() -> None:
    svg = str(bar_chart("Messages", ["a", "b<c"], [3, 0.5], chart_id="c1"))
    assert svg.startswith('<svg class="chart" id="c1"') and "<title>Messages</title>" in svg
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', svg) == [("a", "3"), ("b&lt;c", "0.50")]
    lines = str(line_chart("Per day", ["d1", "d2"], {"Ann": [1, 2], "Bo": [0, 4]}))
    assert lines.count("<polyline") == 2 and 'data-series="Bo" data-label="d2" data-value="4"' in lines


def test_the_admin_dashboard_shows_recorded_numbers(
    services: Services, client: TestClient[Any], alice: dict[str, Any]
) -> None:
    bob = register(client, "bob@example.com")
    for account in (alice, bob):
        conversation = new_conversation(client, account)
        client.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "hi"}, headers=bearer(account)
        )
    wait_for_events(services, 6)
    figures = client.get("/api/v1/admin/dashboard", headers=bearer(alice)).json()
    assert figures["active_users_today"] == 2
    assert figures["messages_per_minute"] == round(4 / 60, 2)  # two sent, two replies, in the last hour
    assert figures["average_response_ms"] is not None and figures["average_response_ms"] >= 0
    assert figures["requests_last_hour"] > 0 and 0 <= figures["error_rate"] < 1
    assert figures["active_users_per_day"][-1]["value"] == 2
    page = client.get("/admin", headers={**HTML, **bearer(alice)})
    assert page.status_code == 200
    bars = re.findall(r'<rect class="bar"[^>]*data-value="([^"]+)"', page.text.split('id="chart-active-users"')[1])
    assert bars[29] == "2"  # the last of 30 days: today
    assert client.get("/admin", headers={**HTML, **bearer(bob)}).status_code == 403
