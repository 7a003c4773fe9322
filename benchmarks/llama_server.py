"""llama.cpp's own server, built from the llama.cpp sources vendored in the installed llama-cpp-python's
sdist (same llama.cpp as Bostonia runs), cached under ~/.cache/bostonia/llama-server-<version>/.

    ensure_llama_server() -> Path     the binary; builds it once (about 5 minutes on 2 cores), then reuses it
    running_llama_server(model, ...)  a started server on a free port, as a context manager yielding its URL

`python -m benchmarks.llama_server` builds (if needed) and prints the binary's path. The build uses the
portable AVX2 flags the Makefile uses for llama-cpp-python (the native build's AMX kernels crash here).
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

CMAKE_FLAGS = [
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_CURL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary to cache
    "-DCMAKE_BUILD_TYPE=Release",
]


def llama_cpp_python_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def cache_dir(version: str | None = None) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bostonia" / f"llama-server-{version or llama_cpp_python_version()}"


def ensure_llama_server(*, jobs: int = 2, quiet: bool = True) -> Path:
    """The cached llama-server binary for the installed llama-cpp-python version, built on first use."""
    folder = cache_dir()
    binary = folder / "llama-server"
    if _works(binary):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # another process may be building it right now
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _works(binary):
            _build(binary, jobs=jobs, quiet=quiet)
    return binary


def _works(binary: Path) -> bool:
    if not binary.is_file():
        return False
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _build(binary: Path, *, jobs: int, quiet: bool) -> None:
    version = llama_cpp_python_version()
    output = subprocess.DEVNULL if quiet else None
    with tempfile.TemporaryDirectory(prefix="llama-server-build-") as scratch:
        work = Path(scratch)
        print(f"building llama-server from llama-cpp-python {version}'s sources (a few minutes)...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}", "--no-deps",
             "--no-binary", ":all:", "--disable-pip-version-check", "-q", "-d", str(work)],
            check=True, stdout=output, stderr=output,
        )  # fmt: skip
        sdist = next(work.glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
        cmake = _cmake()
        build = source / "build"
        subprocess.run([cmake, "-S", str(source), "-B", str(build), *CMAKE_FLAGS], check=True, stdout=output)
        subprocess.run(
            [cmake, "--build", str(build), "--target", "llama-server", f"-j{jobs}"], check=True, stdout=output
        )
        built = build / "bin" / "llama-server"
        staged = binary.with_suffix(".new")
        shutil.copy2(built, staged)
        staged.replace(binary)
    if not _works(binary):
        raise RuntimeError(f"the llama-server built at {binary} does not run")


def _cmake() -> str:
    found = shutil.which("cmake")
    if found:
        return found
    # No system cmake: PyPI's cmake wheel carries the binary.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "cmake"], check=True)
    return str(Path(sys.executable).parent / "cmake")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_llama_server(
    model: Path, *, parallel: int = 4, context_per_slot: int = 4096, threads: int = 2, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """llama-server on `model` with `parallel` slots of `context_per_slot` tokens; yields its base URL."""
    port = free_port()
    command = [
        str(ensure_llama_server()), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
        "-np", str(parallel), "-c", str(parallel * context_per_slot), "-t", str(threads), "-tb", str(threads),
        "--no-webui", *extra,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_healthy(process, url, log)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError("llama-server exited: " + log.read().decode(errors="replace")[-2000:])
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("llama-server did not become healthy in 120 s")
        time.sleep(0.2)


if __name__ == "__main__":
    print(ensure_llama_server(quiet=False))
