"""A real `bostonia serve` in a subprocess (the bundled model, a scratch data dir, a free port), for the
tests that must see what the operator sees: kill -9, restarts, load over real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from bostonia.db.connection import connect
from tests.helpers import free_port

BOSTONIA = Path(sys.executable).parent / "bostonia"


class ServerProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "BOSTONIA_DATA_DIR": str(data_dir),
            "BOSTONIA_LOGGING_LEVEL": "WARNING",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def database(self) -> Path:
        return self.data_dir / "bostonia.db"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 90) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.data_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - the process writes it
        self.starts += 1
        self.process = subprocess.Popen(
            [str(BOSTONIA), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server was not ready in {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or the OOM killer."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        logs = sorted(self.data_dir.glob("server-*.log"))
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def rss_mb(self) -> float:
        """Resident memory of the server process (Linux /proc), in MB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return round(kb / 1024, 1)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read the server's database from this process (WAL: readers never block the server)."""
        conn = connect(self.database)
        try:
            return [dict(row) for row in conn.execute(sql, params).fetchall()]
        finally:
            conn.close()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`bostonia ARGS...` on this server's data dir."""
        return subprocess.run(
            [str(BOSTONIA), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


@contextmanager
def running_server(data_dir: Path, *, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
