"""The lock that says "a server is running on this data directory": an exclusive lock on `server.lock`,
held for the server's life, with its process id written inside.

The lock is the operating system's (`flock`), so it goes with the process however that ends — `kill -9`
included — and a stale file never blocks anything. `bostonia db restore` refuses to replace a database
that a live server holds, and holds the lock itself while it works so no server starts meanwhile. A
second server on the same directory is refused too (it would take the first one's replies in flight for
a crash's leftovers).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock: the lock is not enforced there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "server.lock"


class LockHeld(Exception):
    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"{who} holds {path}: a Bostonia server is running on this data directory")


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock or raise `LockHeld` (with the holder's pid, when it wrote one)."""
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is held
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                pid = _pid_in(handle.read())
                handle.close()
                raise LockHeld(self.path, pid) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.truncate(0)
        self._file.close()  # closing the descriptor drops the flock
        self._file = None

    def holder(self) -> int | None:
        """The pid of the live process holding the lock (0 when it wrote none), or None if nobody does."""
        try:
            self.acquire()
        except LockHeld as held:
            return held.pid or 0
        self.release()
        return None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _pid_in(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None
