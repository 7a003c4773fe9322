"""`bostonia serve` as a real process (the CLI's own uvicorn settings, its own logging), for the few tests that
must see what only the shipped command does: transport limits, every log line it writes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers import free_port

BOSTONIA = Path(sys.executable).with_name("bostonia")
# No chat model loaded, no torch: these servers test the HTTP layer; each test starts in about a second.
LIGHT_ENV = {
    "BOSTONIA_LLM_DEFAULT_MODEL": "none",
    "BOSTONIA_MEMORY_EMBEDDER": "hashing",
    "BOSTONIA_MODERATION_SIMILARITY": "false",
}


class ServerProcess:
    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_seconds: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(BOSTONIA), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bostonia serve exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"bostonia serve not ready after {ready_seconds}s: {self.log()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@contextmanager
def server_process(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    """A started `bostonia serve` on a fresh data dir under `tmp_path`; stopped (SIGTERM) on exit."""
    data_dir = tmp_path / "server-data"
    data_dir.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOSTONIA_")}
    server = ServerProcess(
        data_dir, tmp_path / "server.log", {**clean, **LIGHT_ENV, "BOSTONIA_DATA_DIR": str(data_dir), **env}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir / "cache", ignore_errors=True)
