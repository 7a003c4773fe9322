"""A wheel that installs anywhere: built from this tree, installed into a fresh venv (dependencies from
pip's cache, llama-cpp-python's compiled wheel included), `bostonia serve` run from a folder that is not
the source tree must serve pages with their templates, CSS and JS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(900)


def run(*command: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(part) for part in command], cwd=cwd, check=True, capture_output=True, timeout=800)


def test_wheel_installs_and_serves_the_web_ui(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT, "-w", wheels, cwd=tmp_path)
    (wheel,) = wheels.glob("bostonia-*.whl")
    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)

    site = tmp_path / "site"  # neither the source tree nor its web/ folder is anywhere near
    site.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOSTONIA_", "PYTHON"))}
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [venv / "bin" / "bostonia", "serve", "--port", str(port), "--data-dir", site / "data"],
            cwd=site,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the installed server did not start"
            time.sleep(0.3)
        home = httpx.get(f"{base}/", headers={"accept": "text/html"})
        assert home.status_code == 200 and "<html" in home.text
        assert "Captain Mira Vance" in home.text  # bundled characters ship in the wheel too
        stylesheet = httpx.get(f"{base}/static/app.css")
        assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["content-type"]
        assert 'href="/static/app.css' in home.text
        login = httpx.get(f"{base}/login", headers={"accept": "text/html"})
        assert login.status_code == 200 and "password" in login.text
        installed = subprocess.run(
            [venv / "bin" / "python", "-c", "import bostonia.ui.assets as a; print(a.WEB_DIR)"],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert installed.startswith(str(venv)), installed  # served from the installed package
    finally:
        server.terminate()
        server.wait(30)
