"""`bostonia <command>`: run the server and administer an instance."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from bostonia import __version__
from bostonia.commands.characters import character_app
from bostonia.commands.common import run_with_services, settings, state
from bostonia.commands.credits import credits_app
from bostonia.commands.db import db_app
from bostonia.commands.memory import memory_app
from bostonia.commands.migrate import migrate_app
from bostonia.commands.models import models_app
from bostonia.commands.users import user_app
from bostonia.config import render_default_toml

app = typer.Typer(
    help="Bostonia: a self-hostable AI character chat server.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(character_app, name="character")
app.add_typer(models_app, name="models")
app.add_typer(memory_app, name="memory")
app.add_typer(credits_app, name="credits")
app.add_typer(migrate_app, name="migrate")


@app.callback()
def global_options(
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

    from bostonia.http.limits import MAX_FRAME_BYTES
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
            ws_max_size=MAX_FRAME_BYTES,
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
        # uvicorn refuses a larger WebSocket frame while reading it (close 1009), instead of buffering up
        # to its default 16 MB for the app to refuse afterwards.
        ws_max_size=MAX_FRAME_BYTES,
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


def register_plugin_commands(cli: typer.Typer = app) -> None:
    """Let the enabled plugins add their commands (read from the default config file and environment,
    since the command line is parsed only after the commands exist)."""
    from bostonia.config import load_settings
    from bostonia.errors import BostoniaError
    from bostonia.plugins import make_plugin_manager

    try:
        enabled = load_settings().plugins.enabled
        make_plugin_manager(enabled).hook.register_commands(cli=cli)
    except BostoniaError:  # a broken config is reported by the command that reads it
        return


def main() -> None:
    """The `bostonia` executable."""
    register_plugin_commands()
    app()
