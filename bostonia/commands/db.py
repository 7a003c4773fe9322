"""`bostonia db ...`: migrations, integrity checks and online backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bostonia.commands.common import fail, settings
from bostonia.plugins import make_plugin_manager

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending database migrations."""
    from bostonia.app import open_database

    current = settings()
    db = open_database(current, make_plugin_manager(current.plugins.enabled), read_connections=1)
    try:
        applied = db.migrate_sync()
    finally:
        db.close()
    typer.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


@db_app.command("check")
def db_check() -> None:
    """Check integrity, foreign keys, sqlite-vec and migrations. Exits 1 on any problem."""
    from bostonia.app import open_database
    from bostonia.db.health import integrity

    current = settings()
    if not current.database_path.exists():
        raise fail(f"no database at {current.database_path} (run `bostonia init` or `bostonia serve`)")
    db = open_database(current, make_plugin_manager(current.plugins.enabled), read_connections=1)
    try:
        report = integrity(db)
    finally:
        db.close()
    for key, value in report.items():
        typer.echo(f"{key}: {value if value != [] else 'none'}")
    if report["integrity"] != "ok" or report["foreign_key_violations"] or report["pending_migrations"]:
        raise typer.Exit(1)


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="Where to write the copy.")]) -> None:
    """Copy the database with SQLite's online backup API; safe while the server runs."""
    from bostonia.db import Database

    current = settings()
    if not current.database_path.exists():
        raise fail(f"no database at {current.database_path}")
    if path.exists():
        raise fail(f"{path} already exists; choose a new file")
    if not path.parent.is_dir():
        raise fail(f"directory {path.parent} does not exist")
    db = Database(current.database_path, read_connections=1)
    try:
        db.backup(path)
    finally:
        db.close()
    typer.echo(f"backed up {current.database_path} to {path} ({path.stat().st_size:,} bytes)")


@db_app.command("restore")
def db_restore(backup: Annotated[Path, typer.Argument(help="A copy made by `bostonia db backup`.")]) -> None:
    """Replace the database by a backup. Refuses while a server runs on this data directory; verifies the
    backup first (integrity, foreign keys, known migrations, sqlite-vec tables); keeps the old database
    beside it as bostonia.db.before-restore-<time>."""
    from bostonia.app import MIGRATIONS
    from bostonia.db.restore import RestoreRefused, restore
    from bostonia.plugins import plugin_migrations

    current = settings()
    plugins = make_plugin_manager(current.plugins.enabled)
    try:
        done = restore(backup, current.database_path, current.data_path, [*MIGRATIONS, *plugin_migrations(plugins)])
    except RestoreRefused as exc:
        raise fail(f"not restored: {exc}") from None
    counts = ", ".join(f"{n:,} {table}" for table, n in done.verification.counts.items())
    typer.echo(f"restored {backup} to {done.database} ({counts})")
    if done.previous is not None:
        typer.echo(f"the database it replaced is kept at {done.previous}")
    if done.verification.pending_migrations:
        pending = len(done.verification.pending_migrations)
        typer.echo(f"{pending} migrations will be applied when the server starts (or run `bostonia db migrate`)")
