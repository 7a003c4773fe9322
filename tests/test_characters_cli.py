from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from bostonia.cli import app
from tests.characters_support import CARDS, FIXTURES, card_in_png

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_a_folder_recursively_then_export(tmp_path: Path) -> None:
    folder = tmp_path / "cards"
    shutil.copytree(FIXTURES, folder)
    (folder / "nested").mkdir()
    (folder / "nested" / "broken.png").write_bytes(b"<html>not a card</html>")
    (folder / "nested" / "notes.txt").write_text("ignored: not a card extension")
    assert run("user", "create", "maker@example.com", "--password", "correct horse battery").exit_code == 0

    result = run("character", "import", str(folder), "--owner", "maker@example.com", "--visibility", "public")
    assert result.exit_code == 1  # one file was refused
    assert "imported 6 characters and 2 lorebooks; 1 files refused" in result.stdout
    assert "broken.png: unsupported file" in result.output and "Importing" in result.stdout

    from bostonia.config import load_settings
    from bostonia.db import connect

    conn = connect(load_settings().database_path)
    rows = conn.execute("select id, name, visibility, creator_id from characters where is_bundled = 0").fetchall()
    conn.close()
    assert len(rows) == 6 and {r["visibility"] for r in rows} == {"public"} and all(r["creator_id"] for r in rows)
    aria = next(r["id"] for r in rows if r["name"] == "Aria Windsong")

    out = tmp_path / "out"
    out.mkdir()
    exported = run("character", "export", aria, "-o", str(out), "--format", "png")
    assert exported.exit_code == 0, exported.output
    card = card_in_png((out / "Aria Windsong.png").read_bytes(), "ccv3")
    assert card["data"]["nickname"] == "Ari" and len(card["data"]["character_book"]["entries"]) == 2
    as_json = run("character", "export", aria, "-o", str(tmp_path / "a.json"), "-f", "json", "--spec", "v2")
    assert as_json.exit_code == 0 and json.loads((tmp_path / "a.json").read_text())["spec"] == "chara_card_v2"


def test_import_without_owner_and_clear_errors(tmp_path: Path) -> None:
    ok = run("character", "import", str(CARDS / "v1_mira.json"))
    assert ok.exit_code == 0 and "imported 1 characters" in ok.stdout
    assert run("character", "import", str(tmp_path / "missing")).exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .png, .json or .charx files" in runner.invoke(app, ["character", "import", str(empty)]).output
    unknown = runner.invoke(app, ["character", "import", str(CARDS / "v1_mira.json"), "--owner", "no@example.com"])
    assert unknown.exit_code == 1 and "no user" in unknown.output
    missing = runner.invoke(app, ["character", "export", "nope", "-o", str(tmp_path / "x.png")])
    assert missing.exit_code == 1 and "character not found" in missing.output
    bad = runner.invoke(app, ["character", "export", "nope", "-o", str(tmp_path / "x"), "-f", "gif"])
    assert bad.exit_code == 1 and "unknown format" in bad.output
