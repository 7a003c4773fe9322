"""`bostonia db restore`: a backup taken while writes happen comes back whole; a running server's database
is never replaced; a bad backup changes nothing; the replaced database is kept."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bostonia.app import MIGRATIONS, build_services, create_app
from bostonia.cli import app as cli
from bostonia.db import Database, sqlite3
from bostonia.db.restore import verify
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import PASSWORD, bearer, make_settings, messages, new_conversation, register, serve_in_thread
from tests.soak.server import running_server

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def fresh_app() -> Any:
    settings = make_settings()
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(ScriptedModel()))
    return create_app(settings, services=build_services(settings, plugins))


def database_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bostonia.db"


def snapshot(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(str(path))
    try:
        return {
            "users": sorted(row[0] for row in conn.execute("select email from users")),
            "messages": sorted(row[0] for row in conn.execute("select id from messages")),
            # A consistent copy: every conversation's counter matches its messages.
            "counters_agree": conn.execute(
                "select count(*) from conversations c"
                " where message_count != (select count(*) from messages m where m.conversation_id = c.id)"
            ).fetchone()[0]
            == 0,
        }
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_backup_taken_while_writing_restores_whole_and_the_replaced_database_is_kept(tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    with serve_in_thread(fresh_app()) as url, httpx.Client(base_url=url, timeout=30) as client:
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        writing = threading.Event()
        stop = threading.Event()
        sent: list[str] = []

        def write_meanwhile() -> None:
            with httpx.Client(base_url=url, timeout=30) as writer:
                n = 0
                while not stop.is_set():
                    response = writer.post(
                        f"/api/v1/conversations/{conversation['id']}/messages",
                        json={"content": f"message {n}"},
                        headers=bearer(alice),
                    )
                    assert response.status_code == 201, response.text
                    sent.append(f"message {n}")
                    n += 1
                    writing.set()

        writer = threading.Thread(target=write_meanwhile, daemon=True)
        writer.start()
        assert writing.wait(10)
        result = run("db", "backup", str(backup))
        assert result.exit_code == 0, result.output
        stop.set()
        writer.join(30)
        # Refused while this server holds the data directory; nothing changes.
        refused = runner.invoke(cli, ["db", "restore", str(backup)])
        assert refused.exit_code == 1 and "running" in refused.output
        assert not list(database_file(tmp_path).parent.glob("*.before-restore-*"))
        # What happens after the backup is what the restore rolls back.
        register(client, "bob@example.com")
    backed_up = snapshot(backup)
    assert backed_up["counters_agree"] and backed_up["users"] == ["alice@example.com"]
    assert 0 < len(backed_up["messages"]) <= 1 + 2 * len(sent)
    latest = snapshot(database_file(tmp_path))

    result = run("db", "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "1 users" in result.output
    kept = list(database_file(tmp_path).parent.glob("bostonia.db.before-restore-*"))
    assert [path.name for path in kept if not path.name.endswith(("-wal", "-shm"))] == [kept[0].name]
    assert snapshot(kept[0]) == latest  # the replaced database, whole (its WAL folded in)
    assert snapshot(database_file(tmp_path)) == backed_up
    assert backup.exists() and not Path(str(backup) + "-wal").exists()  # the backup itself untouched

    with serve_in_thread(fresh_app()) as url, httpx.Client(base_url=url, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        assert login.status_code == 200
        shown = messages(client, login.json(), conversation["id"])
        assert {m["id"] for m in shown} <= set(backed_up["messages"]) and len(shown) > 1
        gone = client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
        assert gone.status_code == 401
        assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "truncated", "not_bostonia", "newer"])
def test_a_bad_backup_is_refused_and_changes_nothing(tmp_path: Path, kind: str) -> None:
    with serve_in_thread(fresh_app()) as url, httpx.Client(base_url=url) as client:
        register(client, "alice@example.com")
    good = tmp_path / "good.db"
    assert run("db", "backup", str(good)).exit_code == 0
    bad = tmp_path / f"{kind}.db"
    if kind == "garbage":
        bad.write_bytes(b"this is not a database" * 100)
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "not_bostonia":
        conn = sqlite3.connect(str(bad))
        conn.execute("create table notes (text)")
        conn.commit()
        conn.close()
    else:  # from a newer Bostonia: a migration this version does not know
        bad.write_bytes(good.read_bytes())
        conn = sqlite3.connect(str(bad))
        conn.execute(
            "insert into _sqlite_migrations (migration_set, name, applied_at) values ('chat', 'm999_future', 'x')"
        )
        conn.commit()
        conn.close()
    before = digest(database_file(tmp_path))
    result = runner.invoke(cli, ["db", "restore", str(bad)])
    assert result.exit_code == 1 and "not restored" in result.output, result.output
    assert digest(database_file(tmp_path)) == before
    leftovers = [p.name for p in database_file(tmp_path).parent.iterdir() if "restor" in p.name]
    assert leftovers == []


def test_verification_reads_the_vector_tables(tmp_path: Path) -> None:
    db = Database(tmp_path / "fresh.db", migrations=MIGRATIONS)
    db.migrate_sync()
    db.close()
    checked = verify(tmp_path / "fresh.db", MIGRATIONS)
    assert checked.ok, checked.problems
    assert checked.vector_tables and all(rows == 0 for rows in checked.vector_tables.values())
    assert checked.pending_migrations == []


@pytest.mark.model
def test_the_real_server_holds_its_data_directory(tmp_path: Path) -> None:
    """Another process (`bostonia db restore`) sees the running `bostonia serve` and refuses; a second server
    on the same directory does not start."""
    data = tmp_path / "data"
    with running_server(data, env={"BOSTONIA_LLM_THREADS": "1"}) as server:
        backup = tmp_path / "backup.db"
        assert server.cli("db", "backup", str(backup)).returncode == 0
        refused = server.cli("db", "restore", str(backup))
        assert refused.returncode == 1 and f"pid {server.pid}" in refused.stderr + refused.stdout
        second = server.cli("serve", "--port", "1", timeout=120)
        assert second.returncode != 0 and "server.lock" in second.stdout + second.stderr
    restored = server.cli("db", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr


def test_admin_commands_run_beside_a_live_server_and_leave_its_replies_in_flight_alone(tmp_path: Path) -> None:
    """A server in another process holds the data directory; `bostonia user ...` still works, and does not
    take the server's checkpoints of replies in flight for a crash's leftovers."""
    import subprocess
    import sys

    from bostonia.db.values import utcnow

    assert run("db", "migrate").exit_code == 0
    conn = sqlite3.connect(str(database_file(tmp_path)))  # what a live server's reply in flight has written
    with conn:
        conn.execute(
            "insert into reply_checkpoints (message_id, conversation_id, parent_id, mode, prefix, content, started_at,"
            " saved_at) values ('m-live', 'c-live', null, 'reply', '', 'half a reply', ?, ?)",
            (utcnow(), utcnow()),
        )
    conn.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); time.sleep(60)", str(tmp_path / "data" / "server.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        listed = runner.invoke(cli, ["user", "list"])
        assert listed.exit_code == 0, listed.output
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    conn = sqlite3.connect(str(database_file(tmp_path)))
    try:
        assert conn.execute("select content from reply_checkpoints").fetchall() == [("half a reply",)]
    finally:
        conn.close()
