"""The installable web app (manifest, icons, service worker, offline page) and what search engines read
(robots.txt, the sitemap of public characters, OpenGraph tags on character pages)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from litestar.testing import TestClient

from bostonia import __version__
from tests.helpers import HTML, bearer, sign_in


def new_character(client: TestClient[Any], account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/characters", json=fields, headers=bearer(account))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_pages_link_the_manifest_and_icons(client: TestClient[Any]) -> None:
    home = client.get("/", headers=HTML).text
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in home
    manifest = client.get("/static/manifest.webmanifest")
    assert manifest.status_code == 200
    data = json.loads(manifest.content)
    assert data["start_url"] == "/" and data["display"] == "standalone"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes and any(icon.get("purpose") == "maskable" for icon in data["icons"])
    for icon in data["icons"]:
        fetched = client.get(icon["src"])
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/")


def test_service_worker_is_served_from_the_root_with_this_version(client: TestClient[Any]) -> None:
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
    assert worker.headers["service-worker-allowed"] == "/" and "no-cache" in worker.headers["cache-control"]
    assert f'"bostonia-{__version__}"' in worker.text and "__VERSION__" not in worker.text
    # Only static files and the offline page are ever cached: never pages or API answers.
    assert 'url.pathname.startsWith("/static/")' in worker.text and "/api/" not in worker.text


def test_offline_page_carries_nobody_s_data(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    page = client.get("/offline", headers=HTML)
    assert page.status_code == 200 and "You are offline" in page.text
    assert "Alice" not in page.text and "alice@example.com" not in page.text


def test_robots_and_the_sitemap_list_only_public_characters(client: TestClient[Any], alice: dict[str, Any]) -> None:
    assert "Sitemap: /sitemap.xml" in client.get("/robots.txt").text
    public = new_character(client, alice, name="Seen Everywhere", visibility="public")
    private = new_character(client, alice, name="Just Mine", visibility="private")
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    locations = [
        element.text or ""
        for element in ElementTree.fromstring(response.content).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
    ]
    assert any(loc.endswith(f"/characters/{public['id']}") for loc in locations)
    assert not any(private["id"] in loc for loc in locations)
    assert len(locations) >= 4  # home + the bundled characters + ours


def test_character_pages_have_link_preview_tags(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = new_character(client, alice, name="Preview Me", visibility="public", tagline="A tagline to share")
    page = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert '<meta property="og:title" content="Preview Me">' in page
    assert '<meta property="og:description" content="A tagline to share">' in page
    assert f'/characters/{character["id"]}">' in page and 'name="robots"' not in page
    private = new_character(client, alice, name="Hidden", visibility="private")
    hidden = client.get(f"/characters/{private['id']}", headers={**HTML, **bearer(alice)}).text
    assert '<meta name="robots" content="noindex">' in hidden
