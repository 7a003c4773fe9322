from __future__ import annotations

import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from bostonia import __version__
from bostonia.cli import app
from bostonia.db import Database

runner = CliRunner()


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_version() -> None:
    result = run("version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_init_writes_config_and_data_dir(tmp_path: Path) -> None:
    result = run("--data-dir", str(tmp_path / "inst"), "init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bostonia.toml").exists()
    assert (tmp_path / "inst" / "bostonia.db").exists() and (tmp_path / "inst" / "secret.key").exists()
    assert oct((tmp_path / "inst" / "secret.key").stat().st_mode & 0o777) == "0o600"
    again = run("--data-dir", str(tmp_path / "inst"), "init")
    assert again.exit_code == 0 and "keeping it" in again.stdout


def test_a_bad_config_is_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[server]\nprot = 1\n")
    result = runner.invoke(app, ["--config", str(config), "user", "list"])
    assert result.exit_code == 2
    assert "prot" in result.output and "Traceback" not in result.output


def test_db_migrate_then_check() -> None:
    assert "applied: bostonia:m001_seed_schema" in run("db", "migrate").stdout
    assert "up to date" in run("db", "migrate").stdout
    result = run("db", "check")
    assert result.exit_code == 0, result.output
    assert "integrity: ok" in result.stdout and "vec_version: v" in result.stdout


def test_db_check_without_a_database_fails_cleanly() -> None:
    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 1 and "no database" in result.output


def test_user_create_list_and_set_role() -> None:
    created = run(
        "user",
        "create",
        "ada@example.com",
        "--display-name",
        "Ada",
        "--role",
        "creator",
        input="long enough pw\nlong enough pw\n",
    )
    assert created.exit_code == 0, created.output
    assert "created ada@example.com (creator)" in created.stdout
    assert run("user", "set-role", "ada@example.com", "admin").stdout.strip() == "ada@example.com is now admin"
    listing = run("user", "list").stdout
    assert "ada@example.com" in listing and "admin" in listing


def test_user_commands_reject_bad_input() -> None:
    weak = runner.invoke(app, ["user", "create", "ada@example.com"], input="short\nshort\n")
    assert weak.exit_code == 1 and "at least 8 characters" in weak.output
    role = runner.invoke(
        app, ["user", "create", "ada@example.com", "--role", "king"], input="long enough\nlong enough\n"
    )
    assert role.exit_code == 1 and "unknown role" in role.output
    missing = runner.invoke(app, ["user", "set-role", "ghost@example.com", "admin"])
    assert missing.exit_code == 1 and "no user" in missing.output


def test_backup_while_the_server_runs(live: httpx.Client, tmp_path: Path) -> None:
    live.post("/api/v1/auth/register", json={"email": "live@example.com", "password": "long enough pw"})
    target = tmp_path / "backup.db"
    result = run("db", "backup", str(target))
    assert result.exit_code == 0, result.output
    copy = Database(target, read_connections=1)
    try:
        emails = copy.read_sync(lambda c: [r[0] for r in c.execute("select email from users")])
    finally:
        copy.close()
    assert emails == ["live@example.com"]
    # Still ready (the server may yet be loading its moderation models when this test runs alone: wait).
    deadline = time.monotonic() + 60
    while (ready := live.get("/ready")).status_code == 503 and ready.json()["status"] == "warming":
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.2)
    assert ready.status_code == 200, ready.text
    refused = runner.invoke(app, ["db", "backup", str(target)])
    assert refused.exit_code == 1 and "already exists" in refused.output
