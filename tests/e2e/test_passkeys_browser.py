"""Passkeys in Chromium with a virtual authenticator (DevTools' WebAuthn domain): add a passkey on the
account page, sign out, sign in with it — no password typed — and remove it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.e2e.conftest import register_in_browser
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import make_settings, serve_in_thread

pytestmark = pytest.mark.browser


def test_register_a_passkey_then_sign_in_with_it(browser: Any) -> None:
    settings = make_settings()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    with serve_in_thread(create_app(settings, services=build_services(settings, plugins))) as url:
        # Browsers refuse an IP address as the relying party: reach the server by name.
        context = browser.new_context(base_url=url.replace("127.0.0.1", "localhost"))
        page = context.new_page()
        page.set_default_timeout(30_000)
        devtools = context.new_cdp_session(page)
        devtools.send("WebAuthn.enable")
        authenticator = devtools.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )["authenticatorId"]

        register_in_browser(page, "Kit", "kit@example.com")
        page.goto("/account")
        page.get_by_label("Name for a new passkey").fill("Test laptop")
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Test laptop").wait_for()
        stored = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(stored) == 1 and stored[0]["isResidentCredential"]

        page.get_by_role("button", name="Sign out").click()
        page.goto("/login?next=/chats")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(lambda address: urlsplit(address).path == "/chats")
        assert page.get_by_role("link", name="Kit").is_visible()
        me = page.request.get("/api/v1/users/me")
        assert me.ok and me.json()["email"] == "kit@example.com"

        page.goto("/account")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Remove passkey Test laptop").click()
        page.get_by_text("No passkeys yet.").wait_for()
        context.close()
