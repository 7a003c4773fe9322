"""The results table of `make soak`: every long run records one row (`record`); `python -m tests.soak.report`
prints them all. Rows are JSON files in `$SOAK_RESULTS` (default `.soak/` at the project's root, wherever a
test's working directory is; not a `BOSTONIA_*` name, which the config would read as a setting), one per run
name, so a run repeated replaces its row and runs in separate processes need no coordination."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def results_dir() -> Path:
    configured = os.environ.get("SOAK_RESULTS")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / ".soak"


def record(name: str, *, cases: int, failures: int, **figures: Any) -> None:
    """One row: what ran (`name`), how many cases, how many failed, and its figures (e.g. p99_ms=12.5)."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    row = {"name": name, "cases": cases, "failures": failures, "figures": figures}
    (folder / f"{name}.json").write_text(json.dumps(row, indent=1))


def rows() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(results_dir().glob("*.json"))]


def table(found: list[dict[str, Any]]) -> str:
    lines = [f"{'test':<34} {'cases':>8} {'failures':>9}  figures"]
    for row in found:
        figures = ", ".join(f"{k}={v}" for k, v in row["figures"].items())
        lines.append(f"{row['name']:<34} {row['cases']:>8} {row['failures']:>9}  {figures}")
    return "\n".join(lines)


def main() -> int:
    found = rows()
    print(table(found) if found else "no soak results recorded")
    return 1 if any(row["failures"] for row in found) else 0


if __name__ == "__main__":
    sys.exit(main())
