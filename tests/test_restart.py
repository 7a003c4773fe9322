"""Stop the server, start it again on the same data dir: everything is still there."""

from __future__ import annotations

import httpx
from litestar import Litestar

from bostonia.app import build_services, create_app
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, bearer, make_settings, register, serve_in_thread


def fresh_app() -> Litestar:
    settings = make_settings()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    return create_app(settings, services=build_services(settings, plugins))


def test_data_survives_a_restart() -> None:
    with serve_in_thread(fresh_app()) as url, httpx.Client(base_url=url) as client:
        alice = register(client, "alice@example.com")
        character = client.get("/api/v1/characters").json()["items"][0]
        conversation = client.post(
            "/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(alice)
        ).json()
        client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"content": "Remember me"},
            headers=bearer(alice),
        )
        before = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(alice)).json()
        old_token = alice["access_token"]

    with serve_in_thread(fresh_app()) as url, httpx.Client(base_url=url) as client:
        # The signing secret persisted too: a token issued before the restart still works.
        assert client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
        login = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}).json()
        after = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(login)).json()
        assert after == before and len(after["items"]) == 3
        assert len(client.get("/api/v1/characters").json()["items"]) == 3  # bundled characters not duplicated
