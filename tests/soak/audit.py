"""`make soak`'s pip-audit step: audit the installed packages and record the result as a row of the soak
table. The vulnerability database is online (PyPI's and OSV's services); where it cannot be reached the row
says so — an audit that could not run is reported, not passed and not failed. `make soak SOAK_AUDIT=0`
skips it (it asks the package index about every installed package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.soak.report import record

TIMEOUT_SECONDS = 300


def pip_audit() -> Path | None:
    beside = Path(sys.executable).parent / "pip-audit"
    if beside.exists():
        return beside
    found = shutil.which("pip-audit")
    return Path(found) if found else None


def main() -> int:
    if os.environ.get("BOSTONIA_SOAK_AUDIT", "1") == "0":
        record("pip-audit", cases=0, failures=0, status="not run: skipped (BOSTONIA_SOAK_AUDIT=0, offline)")
        return 0
    tool = pip_audit()
    if tool is None:
        record("pip-audit", cases=0, failures=0, status="not run: pip-audit is not installed")
        return 0
    try:
        done = subprocess.run(
            [str(tool), "--format", "json", "--progress-spinner", "off", "--skip-editable"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        record("pip-audit", cases=0, failures=0, status=f"not run: no answer in {TIMEOUT_SECONDS} s (offline?)")
        return 0
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:120]
        record("pip-audit", cases=0, failures=0, status=f"not run: vulnerability database unreachable ({reason})")
        return 0
    packages = report.get("dependencies", report if isinstance(report, list) else [])
    vulnerable = [p for p in packages if p.get("vulns")]
    names = ", ".join(f"{p['name']} {p['version']}" for p in vulnerable[:5])
    record(
        "pip-audit",
        cases=len(packages),
        failures=len(vulnerable),
        status="audited",
        **({"vulnerable": names} if names else {}),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
