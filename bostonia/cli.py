"""`bostonia <command>`: run the server and administer an instance."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bostonia import __version__
from bostonia.characters.cli import character_app
from bostonia.config import Settings, load_settings, render_default_toml
from bostonia.errors import BostoniaError
from bostonia.memory.cli import memory_app
from bostonia.users.cli import user_app

T = TypeVar("T")

app = typer.Typer(
    help="Bostonia: a self-hostable AI character chat server.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(character_app, name="character")
app.add_typer(memory_app, name="memory")


class State:
    config: Path | None = None
    data_dir: Path | None = None


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings(**overrides: Any) -> Settings:
    if state.data_dir is not None:
        overrides.setdefault("data_dir", str(state.data_dir))
    try:
        return load_settings(state.config, overrides=overrides)
    except BostoniaError as exc:
        raise fail(exc.message, 2) from None


def run_with_services(fn: Callable[[Any], Awaitable[T]], **overrides: Any) -> T:
    """Open the instance (migrated database, services) for one admin command, then close it."""
    from bostonia.app import build_services

    async def main() -> T:
        services = build_services(settings(**overrides))
        await services.start()
        try:
            return await fn(services)
        finally:
            await services.stop()

    try:
        return asyncio.run(main())
    except BostoniaError as exc:
        raise fail(exc.message) from None


@app.callback()
def main(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Path to bostonia.toml.", exists=True, dir_okay=False)
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (database, caches).")] = None,
) -> None:
    state.config = config
    state.data_dir = data_dir


@app.command()
def version() -> None:
    """Print the Bostonia version."""
    typer.echo(f"bostonia {__version__}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")] = None,
    reload: Annotated[bool, typer.Option(help="Restart when code changes (development).")] = False,
) -> None:
    """Run the web server (UI, API and WebSocket) in this process."""
    import uvicorn

    from bostonia.observability.logs import configure_logging

    if data_dir is not None:
        state.data_dir = data_dir
    server = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    current = settings(**({"server": server} if server else {}))
    configure_logging(current.logging.level, json=current.logging.json)
    if reload:
        # The reloader imports the app in a child process: hand the settings over through the environment.
        os.environ["BOSTONIA_DATA_DIR"] = current.data_dir
        if state.config:
            os.environ["BOSTONIA_CONFIG"] = str(state.config)
        uvicorn.run(
            "bostonia.app:create_app",
            factory=True,
            host=current.server.host,
            port=current.server.port,
            reload=True,
            log_config=None,
        )
        return
    from bostonia.app import create_app

    typer.echo(
        f"Bostonia {__version__} on http://{current.server.host}:{current.server.port} (data: {current.data_path})",
        err=True,
    )
    uvicorn.run(
        create_app(current),
        host=current.server.host,
        port=current.server.port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


@app.command()
def init(force: Annotated[bool, typer.Option(help="Overwrite an existing bostonia.toml.")] = False) -> None:
    """Write a starter bostonia.toml and create the data directory (database, signing secret)."""
    path = state.config or Path("bostonia.toml")
    if path.exists() and not force:
        typer.echo(f"{path} exists (use --force to overwrite); keeping it")
    else:
        path.write_text(render_default_toml(), encoding="utf-8")
        typer.echo(f"wrote {path}")
    state.config = path

    async def prepare(services: Any) -> Path:
        return services.settings.data_path

    data_path = run_with_services(prepare)
    typer.echo(f"data directory ready: {data_path}")


# -- db ---------------------------------------------------------------------------------------------


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending database migrations."""
    from bostonia.app import open_database

    db = open_database(settings(), read_connections=1)
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
    db = open_database(current, read_connections=1)
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
