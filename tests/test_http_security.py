"""Browser security: CSRF on every cookie-authenticated unsafe request, none for Bearer or cookie-less API
clients; security headers everywhere; templates that need no inline script or style under the CSP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.http.security import CONTENT_SECURITY_POLICY, CSRF_COOKIE
from tests.helpers import HTML, PASSWORD, bearer, csrf_token, error_of, post_form, sign_in

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


def test_forms_without_the_token_are_refused_with_a_page(client: TestClient[Any], alice: dict[str, Any]) -> None:
    client.get("/login", headers=HTML)  # the browser has the CSRF cookie, the forged form does not carry it
    for url, data in (("/login", {"email": "alice@example.com", "password": PASSWORD}), ("/register", {})):
        response = client.post(url, data=data, headers=HTML)
        assert response.status_code == 403 and "CSRF token missing or invalid" in response.text, url
        assert "<html" in response.text
    wrong = client.post("/login", data={"email": "a", "password": "b", "_csrf_token": "0" * 128}, headers=HTML)
    assert wrong.status_code == 403


def test_a_signed_in_form_needs_the_token(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    forged = client.post("/account", data={"display_name": "Mallory"}, headers=HTML)
    assert forged.status_code == 403
    assert client.get("/api/v1/users/me").json()["display_name"] == "Alice"
    assert post_form(client, "/account", {"display_name": "Ally"}, follow_redirects=False).status_code == 303


def test_htmx_and_cookie_json_requests_get_a_json_403(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    htmx = client.post("/account/preferences", data={"theme": "dark"}, headers={"hx-request": "true"})
    assert htmx.status_code == 403 and error_of(htmx)["code"] == "csrf_failed"
    api = client.patch("/api/v1/users/me/preferences", json={"theme": "dark"})
    assert api.status_code == 403 and error_of(api)["code"] == "csrf_failed"
    assert client.get("/api/v1/users/me/preferences").json()["theme"] == "system"
    ok = client.patch(
        "/api/v1/users/me/preferences", json={"theme": "dark"}, headers={"x-csrftoken": csrf_token(client)}
    )
    assert ok.status_code == 200


def test_bearer_and_cookieless_api_clients_need_no_token(client: TestClient[Any], alice: dict[str, Any]) -> None:
    assert (
        client.patch("/api/v1/users/me/preferences", json={"theme": "dark"}, headers=bearer(alice)).status_code == 200
    )
    assert (
        client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).status_code == 200
    )
    # Even with a session cookie present, a Bearer request is the client's deliberate act.
    sign_in(client)
    assert client.patch("/api/v1/users/me", json={"bio": "x"}, headers=bearer(alice)).status_code == 200


def test_the_token_is_in_every_form_and_in_the_htmx_headers(client: TestClient[Any], alice: dict[str, Any]) -> None:
    sign_in(client)
    token = client.cookies[CSRF_COOKIE]
    page = client.get("/account", headers=HTML).text
    forms = page.count('method="post"')
    assert forms >= 4 and page.count(f'name="_csrf_token" value="{token}"') == forms
    assert f'hx-headers=\'{{"x-csrftoken": "{token}"}}\'' in page


def test_session_cookie_attributes(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/characters", "/static/app.css", "/nowhere", "/health"])
def test_security_headers_on_every_response(client: TestClient[Any], path: str) -> None:
    headers = client.get(path, headers=HTML).headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "strict-transport-security" not in headers


def test_the_policy_allows_only_this_origin() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


def test_pages_load_only_vendored_scripts(client: TestClient[Any]) -> None:
    page = client.get("/", headers=HTML).text
    scripts = re.findall(r"<script([^>]*)>", page)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs in scripts]  # type: ignore[union-attr]
    assert sources and all(s.startswith("/static/") for s in sources)
    for source in sources:
        assert client.get(source.split("?")[0]).status_code == 200


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """What the CSP would block must not be in the templates at all."""
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "hx-on" not in text and "javascript:" not in text, template.name


def test_htmx_is_configured_for_the_csp(client: TestClient[Any]) -> None:
    page = client.get("/", headers=HTML).text
    assert '"includeIndicatorStyles": false' in page and '"allowEval": false' in page


def test_https_instances_send_hsts(tmp_path: Path) -> None:
    from bostonia.app import build_services, create_app
    from bostonia.plugins import make_plugin_manager
    from tests.helpers import make_settings

    settings = make_settings(auth={"secure_cookies": True})
    with TestClient(create_app(settings, services=build_services(settings, make_plugin_manager([])))) as client:
        response = client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "Secure" in response.headers["set-cookie"]  # the CSRF cookie
