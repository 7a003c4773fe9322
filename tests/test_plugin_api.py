"""The plugin platform through the real app: an example plugin that uses every hook, plugin settings,
enabling, and the rule that plugins import only `bostonia.plugin_api`."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import typer
from litestar.testing import TestClient
from typer.testing import CliRunner

from bostonia import hookspecs
from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.db.connection import connect
from bostonia.errors import ConfigError
from bostonia.plugins import configure_plugins, make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, make_settings, register
from tests.plugins import example_plugin

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY_PLUGINS = [ROOT / "plugins", Path(example_plugin.__file__).parent]


def example_manager() -> Any:
    pm = make_plugin_manager([])
    pm.register(ModelPlugin(ScriptedModel()))
    pm.register(example_plugin, name="example")
    return pm


def notes_in(settings: Any) -> list[str]:
    conn = connect(settings.database_path)
    try:
        return [row[0] for row in conn.execute("select note from example_visits order by id")]
    finally:
        conn.close()


def test_every_hook_through_the_real_app() -> None:
    settings = make_settings(plugins={"example": {"greeting": "Ahoy"}})
    services = build_services(settings, example_manager())
    with TestClient(create_app(services=services)) as client:
        # register_migrations + startup: the plugin's table exists and its start-up wrote to it.
        assert notes_in(services.settings) == ["startup: Ahoy"]
        # extra_routes + template_dirs: a page in the app's layout, with the plugin's settings.
        account = register(client, "alice@example.com", name="Alice")
        page = client.get("/example", headers={"accept": "text/html", **bearer(account)})
        assert page.status_code == 200
        assert "Ahoy, Alice" in page.text and 'id="example-guest-book"' in page.text
        assert "<header" in page.text  # base.html's layout around it
        assert client.get("/api/example/notes").status_code == 401
        notes = client.get("/api/example/notes", headers=bearer(account)).json()
        assert notes == {"notes": ["startup: Ahoy", "visit"], "for": "alice@example.com"}
        # login_providers: its button on the login page.
        assert "Sign in with the guest book" in client.get("/login").text
        # register_models: its model is served next to the others.
        assert "example-echo" in services.models
        # register_payment_providers: its provider takes the payments (its toy webhook answers).
        assert services.payments.provider is not None and services.payments.provider.name == "example"
        event = client.post(
            "/api/v1/payments/webhook", content=b'{"id": "e1", "type": "hello"}', headers={"x-example-event": "yes"}
        )
        assert event.status_code == 200 and event.json()["outcome"] == "ignored", event.text
        # prompt_injectors: its lore reaches the prompt of a reply, at its depth.
        character = client.get("/api/v1/characters").json()["items"][0]
        conversation = client.post(
            "/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(account)
        ).json()
        response = client.get(
            f"/api/v1/conversations/{conversation['id']}/prompt", params={"content": "hi"}, headers=bearer(account)
        )
        assert response.status_code == 200, response.text
        prompt = response.json()
        lore = [s for s in prompt["sections"] if s["name"] == "example"]
        assert lore and "green cheese" in lore[0]["content"]
    # shutdown ran before the database closed.
    assert notes_in(services.settings)[-1] == "shutdown"


def test_plugin_commands_join_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cli = typer.Typer()

    @cli.callback()
    def root() -> None: ...

    example_manager().hook.register_commands(cli=cli)
    # The command opens the instance itself: it must find the plugin there too.
    monkeypatch.setattr("bostonia.app.make_plugin_manager", lambda enabled=None: example_manager())
    result = CliRunner().invoke(cli, ["example", "notes"])
    assert result.exit_code == 0, result.output
    assert "startup: Hello" in result.output


def test_plugin_settings_reject_unknown_keys_naming_the_plugin() -> None:
    settings = make_settings(plugins={"example": {"greting": "typo"}})
    with pytest.raises(ConfigError, match=r"plugins\.example.*example.*greting"):
        configure_plugins(example_manager(), settings)


def test_plugin_settings_from_the_environment() -> None:
    settings = load_settings(None, environ={"BOSTONIA_PLUGINS_EXAMPLE_GREETING": "Hi there"})
    configured = configure_plugins(example_manager(), settings)
    assert configured.plugins.config["example"].greeting == "Hi there"
    unknown = load_settings(None, environ={"BOSTONIA_PLUGINS_NOPE_KEY": "1"})
    with pytest.raises(ConfigError, match="BOSTONIA_PLUGINS_NOPE_KEY"):
        configure_plugins(example_manager(), unknown)


def test_plugin_tables_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bostonia.toml"
    path.write_text('[plugins]\nenabled = []\n\n[plugins.example]\ngreeting = "From the file"\n')
    settings = configure_plugins(example_manager(), load_settings(path, environ={}))
    assert settings.plugins.config["example"].greeting == "From the file"


def test_old_oidc_section_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "bostonia.toml"
    path.write_text('[[oidc.providers]]\nname = "google"\nclient_id = "x"\n')
    with pytest.warns(DeprecationWarning, match=r"\[plugins\.oidc\]"):
        settings = load_settings(path, environ={})
    assert settings.plugins.tables["oidc"]["providers"][0]["name"] == "google"


def test_only_enabled_plugins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def names() -> set[str | None]:
        pm = make_plugin_manager(["oidc"])
        return {pm.get_name(plugin) for plugin in pm.get_plugins()}

    assert "oidc" not in names()  # installed, but under pytest nothing loads unless asked
    monkeypatch.setenv("BOSTONIA_PLUGINS", "oidc")
    assert "oidc" in names()
    monkeypatch.setenv("BOSTONIA_PLUGINS", "oidc,not-installed")
    with pytest.raises(ConfigError, match="not-installed"):
        make_plugin_manager()


def imports_of(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_first_party_plugins_import_only_the_plugin_api() -> None:
    files = [path for folder in FIRST_PARTY_PLUGINS for path in folder.rglob("*.py")]
    assert len(files) >= 5
    for path in files:
        for module in imports_of(path):
            if module == "bostonia" or module.startswith("bostonia."):
                assert module == "bostonia.plugin_api", f"{path.relative_to(ROOT)} imports {module}"


def test_every_hook_is_in_the_plugin_docs() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "bostonia_spec")]
    assert len(hooks) >= 10
    for hook in hooks:
        assert f"### `{hook}" in docs, f"docs/plugins.md does not document the {hook} hook"


def test_the_example_plugin_implements_every_hook() -> None:
    hooks = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "bostonia_spec")}
    implemented = {name for name in dir(example_plugin) if hasattr(getattr(example_plugin, name), "bostonia_impl")}
    assert hooks == implemented
