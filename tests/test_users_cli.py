"""`bostonia user ...`: show, set-tier, disable/enable, delete and reset-link, with clear messages for
bad input (create, list and set-role are in test_cli.py)."""

from __future__ import annotations

from typing import Any

import httpx
from typer.testing import CliRunner

from bostonia.cli import app
from tests.helpers import PASSWORD, bearer, register

runner = CliRunner()


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def create(email: str, role: str = "user") -> None:
    result = run("user", "create", email, "--role", role, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output


def test_show_set_tier_disable_enable() -> None:
    create("root@example.com", "admin")
    create("ada@example.com")
    shown = run("user", "show", "ada@example.com")
    assert shown.exit_code == 0 and "role:            user" in shown.stdout and "tier:            free" in shown.stdout
    assert run("user", "set-tier", "ada@example.com", "pro").stdout.strip() == "ada@example.com is now on the pro tier"
    assert run("user", "disable", "ada@example.com").stdout.strip() == "ada@example.com is disabled"
    listing = run("user", "list").stdout
    assert "pro" in listing and "[disabled]" in listing
    assert run("user", "enable", "ada@example.com").stdout.strip() == "ada@example.com is enabled"
    assert "[disabled]" not in run("user", "list").stdout


def test_bad_input_is_a_clear_message() -> None:
    create("root@example.com", "admin")
    tier = runner.invoke(app, ["user", "set-tier", "root@example.com", "gold"])
    assert tier.exit_code == 1 and "unknown tier 'gold'" in tier.output
    for command in (["show"], ["disable"], ["enable"], ["reset-link"], ["delete", "--yes"]):
        missing = runner.invoke(app, ["user", *command, "ghost@example.com"])
        assert missing.exit_code == 1 and "no user 'ghost@example.com'" in missing.output, command
    last = runner.invoke(app, ["user", "disable", "root@example.com"])
    assert last.exit_code == 1 and "last active admin" in last.output
    mode = runner.invoke(app, ["user", "delete", "root@example.com", "--mode", "shred", "--yes"])
    assert mode.exit_code == 1 and "unknown mode" in mode.output
    assert "Traceback" not in tier.output + last.output + mode.output


def test_delete_asks_first() -> None:
    create("root@example.com", "admin")
    create("ada@example.com")
    declined = runner.invoke(app, ["user", "delete", "ada@example.com"], input="n\n")
    assert declined.exit_code == 1 and "ada@example.com" in run("user", "list").stdout
    done = run("user", "delete", "ada@example.com", "--yes")
    assert done.exit_code == 0 and "deleted ada@example.com" in done.stdout
    assert "ada@example.com" not in run("user", "list").stdout


def test_reset_link_works_against_the_running_server(live: httpx.Client) -> None:
    account = register(live, "live@example.com")
    result = run("user", "reset-link", "live@example.com")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("http://127.0.0.1:8420/reset-password?token=")
    token = url.split("token=")[1]
    assert (
        live.post("/api/v1/auth/reset-password", json={"token": token, "password": "from the admin"}).status_code == 200
    )
    assert live.get("/api/v1/users/me", headers=bearer(account)).status_code == 401
    assert (
        live.post("/api/v1/auth/login", json={"email": "live@example.com", "password": "from the admin"}).status_code
        == 200
    )


def test_admin_cli_never_shows_conversations() -> None:
    create("root@example.com", "admin")
    commands = [c.name for c in app.registered_groups if c.name == "user"]
    assert commands == ["user"]
    from bostonia.commands.users import user_app

    names = {c.name for c in user_app.registered_commands}
    assert names == {
        "create",
        "list",
        "show",
        "set-role",
        "set-tier",
        "disable",
        "enable",
        "delete",
        "reset-link",
        "api-key",
    }


def test_an_api_key_for_an_account_is_printed_once_and_works() -> None:
    create("root@example.com", "admin")
    made = runner.invoke(app, ["user", "api-key", "root@example.com", "--name", "scripts"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("bst_") and "\n" not in secret  # stdout holds the key alone (scripts capture it)
    listed = runner.invoke(app, ["user", "api-key", "root@example.com", "--list"], catch_exceptions=False)
    assert "scripts" in listed.stdout and secret[:10] in listed.stdout and secret not in listed.stdout
    key_id = listed.stdout.split()[0]
    revoked = runner.invoke(app, ["user", "api-key", "root@example.com", "--revoke", key_id], catch_exceptions=False)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    again = runner.invoke(app, ["user", "api-key", "root@example.com", "--list"], catch_exceptions=False)
    assert "revoked" in again.stdout
