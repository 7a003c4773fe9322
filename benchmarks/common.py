"""Run a real `bostonia serve` process for benchmarks and talk to it over HTTP and SSE."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark password 1"
# The servers benchmarks start log warnings only, unless BOSTONIA_LOGGING_LEVEL asks for more (DEBUG: the
# engine's "N prompt tokens, K kept" per reply, for diagnosis).
LOG_LEVEL = os.environ.get("BOSTONIA_LOGGING_LEVEL", "WARNING")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    """A fresh server process on a scratch data dir; yields a client bound to it."""
    data_dir = Path(tempfile.mkdtemp(prefix="bostonia-bench-"))
    port = free_port()
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bostonia",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        env={**os.environ, "BOSTONIA_LOGGING_LEVEL": LOG_LEVEL, **(env or {})},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300)
    client.server_pid = process.pid  # type: ignore[attr-defined]  # for benchmarks that read its memory
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + (data_dir / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def serve_app(overrides: dict[str, Any], plugins: list[Any] = ()) -> Iterator[httpx.Client]:  # type: ignore[assignment]
    """The app in this process on a real uvicorn server (so benchmark plugins can be registered)."""
    import threading

    import uvicorn

    from bostonia.app import build_services, create_app
    from bostonia.config import load_settings
    from bostonia.plugins import make_plugin_manager

    data_dir = Path(tempfile.mkdtemp(prefix="bostonia-bench-"))
    # The rate limiter stays on (its cost is part of the measurement) with limits benchmarks won't reach.
    limits = {"rate_limits": {"free": 1_000_000, "anonymous": 1_000_000}}
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir), **limits, **overrides})
    manager = make_plugin_manager([])
    for plugin in plugins:
        manager.register(plugin)
    app = create_app(settings, services=build_services(settings, manager))
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=600)
    try:
        yield client
    finally:
        client.close()
        server.should_exit = True
        thread.join(60)
        shutil.rmtree(data_dir, ignore_errors=True)


def account(client: httpx.Client, email: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Bench"}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def stream_reply(client: httpx.Client, headers: dict[str, str], conversation_id: str, content: str) -> dict[str, Any]:
    """Send a message with Accept: text/event-stream; returns timings and the final message."""
    started = time.perf_counter()
    stamps: list[float] = []
    message: dict[str, Any] = {}
    event = None
    with client.stream(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": content},
        headers={**headers, "accept": "text/event-stream"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "message:stream:chunk":
                    stamps.append(time.perf_counter())
                elif event == "message:stream:complete":
                    message = json.loads(line[5:])["message"]
    return {"started": started, "stamps": stamps, "finished": time.perf_counter(), "message": message}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)
