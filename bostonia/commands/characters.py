"""`bostonia character import|export`: cards in and out of an instance from the command line.

Import walks folders (thousands of cards) with a progress bar; every file stands alone, exactly as through
the HTTP API, and the command exits 1 when any file was refused, after listing why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from bostonia.commands.common import OPERATOR, fail, read_capped, report_refused, run_with_services

if TYPE_CHECKING:
    from bostonia.app import Services
    from bostonia.characters.transfer import ImportOutcome

character_app = typer.Typer(help="Import and export character cards.", no_args_is_help=True)
CARD_SUFFIXES = {".png", ".json", ".charx", ".byaf", ".yaml", ".yml"}
# Files read and imported per round: bounds memory for folders of thousands of cards.
CHUNK = 200


def card_files(paths: list[Path]) -> list[Path]:
    """The card files among `paths`, folders searched recursively (by extension; the content decides later)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CARD_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist", param_hint="PATH")
    return found


@character_app.command("import")
def import_cards(
    paths: Annotated[list[Path], typer.Argument(help="Card files or folders (searched recursively).")],
    owner: Annotated[
        str | None, typer.Option(help="Email or id of the account that will own the characters (default: nobody).")
    ] = None,
    visibility: Annotated[str, typer.Option(help="private, unlisted or public.")] = "private",
    content_tier: Annotated[
        str | None, typer.Option(help="sfw, mature or adult (default: from the card; adult tags mean adult).")
    ] = None,
) -> None:
    """Import PNG/JSON/CharX cards and World Info / lorebook_v3 lorebooks."""
    from bostonia.characters.transfer import ImportOutcome

    files = card_files(paths)
    if not files:
        raise fail("no .png, .json or .charx files found")

    async def run(services: Services) -> ImportOutcome:
        user = await services.users.find(owner, actor=OPERATOR) if owner else None
        total = ImportOutcome()
        limit = services.settings.uploads.max_card_bytes
        with typer.progressbar(length=len(files), label="Importing", show_pos=True) as bar:
            for start in range(0, len(files), CHUNK):
                batch = [(str(p), read_capped(p, limit)) for p in files[start : start + CHUNK]]
                outcome = await services.transfer.import_files(
                    user, batch, visibility=visibility, content_tier=content_tier, progress=bar.update
                )
                total.characters += outcome.characters
                total.lorebooks += outcome.lorebooks
                total.failures += outcome.failures
        return total

    outcome = run_with_services(run)
    typer.echo(
        f"imported {len(outcome.characters)} characters and {len(outcome.lorebooks)} lorebooks;"
        f" {len(outcome.failures)} files refused"
    )
    report_refused([(name, error.message) for name, error in outcome.failures])


@character_app.command("export")
def export_card(
    character_id: Annotated[str, typer.Argument(help="The character's id.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (a folder: named after the character).")
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="png, json or charx.")] = "png",
    spec: Annotated[str, typer.Option(help="JSON only: v3 or v2.")] = "v3",
) -> None:
    """Export a character as a PNG card (chara + ccv3), JSON or CharX."""
    if format not in ("png", "json", "charx"):
        raise fail(f"unknown format {format!r}; use png, json or charx")
    if spec not in ("v2", "v3"):
        raise fail(f"unknown spec {spec!r}; use v2 or v3")
    fmt: Literal["png", "json", "charx"] = format  # type: ignore[assignment]
    version: Literal["v2", "v3"] = spec  # type: ignore[assignment]
    content, _, character = run_with_services(
        lambda services: services.transfer.export(OPERATOR, character_id, fmt, version)
    )
    target = output / f"{character.name}.{format}" if output.is_dir() else output
    target.write_bytes(content)
    typer.echo(f"wrote {character.name} to {target} ({len(content):,} bytes)")
