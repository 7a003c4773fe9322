"""What every `bostonia` command shares: the global options, a clear error exit, and opening the instance.

Command modules import this (never `bostonia.cli`, which assembles them); it sits with them above the
composition root (`bostonia.app`), which it imports lazily so `bostonia --help` stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from bostonia.config import Settings, load_settings
from bostonia.errors import BostoniaError
from bostonia.identity import Operator

if TYPE_CHECKING:
    from bostonia.app import Services

T = TypeVar("T")
# Whoever runs an admin command on the server's machine: every admin action, audited without an account.
OPERATOR = Operator()


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


def run_with_services(fn: Callable[[Services], Awaitable[T]], **overrides: Any) -> T:
    """Open the instance (migrated database, services) for one admin command, then close it."""
    from bostonia.app import build_services

    async def main() -> T:
        services = build_services(settings(**overrides))
        await services.start(serving=False)  # beside a running server, if there is one
        try:
            return await fn(services)
        finally:
            await services.stop()

    try:
        return asyncio.run(main())
    except BostoniaError as exc:
        raise fail(exc.message) from None


SHOWN_REFUSALS = 20


def report_refused(refused: list[tuple[str, str]]) -> None:
    """List the files a command refused (file, why) on stderr, the first `SHOWN_REFUSALS`; exit 1 if any."""
    for name, why in refused[:SHOWN_REFUSALS]:
        typer.echo(f"  {name}: {why}", err=True)
    if len(refused) > SHOWN_REFUSALS:
        typer.echo(f"  ... and {len(refused) - SHOWN_REFUSALS} more", err=True)
    if refused:
        raise typer.Exit(1)


def read_capped(path: Path, limit: int) -> bytes:
    """The file, or its first `limit + 1` bytes: enough for an importer to refuse it as too large."""
    with path.open("rb") as handle:
        return handle.read(limit + 1)
