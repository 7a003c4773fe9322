"""Open SQLite connections the way Bostonia needs them: WAL, foreign keys, sqlite-vec loaded.

The stdlib `sqlite3` of many Python builds cannot load extensions, so we prefer `pysqlite3` (a
modern SQLite with extension loading), then `sqlean`, and fall back to the stdlib module.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import sqlite_vec


def _sqlite_module() -> ModuleType:
    for name in ("pysqlite3.dbapi2", "sqlean"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    import sqlite3 as stdlib_sqlite3

    return stdlib_sqlite3


if TYPE_CHECKING:  # pysqlite3 and sqlean mirror the stdlib module's API
    import sqlite3
else:
    sqlite3 = _sqlite_module()


def connect(path: Path | str, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """A connection in autocommit mode: callers open transactions explicitly (`BEGIN IMMEDIATE`)."""
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)
    conn.execute(f"pragma busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("pragma foreign_keys = on")
    conn.execute("pragma journal_mode = wal")
    # WAL + NORMAL: durable across application crashes; an OS crash can lose the last commits.
    conn.execute("pragma synchronous = normal")
    return conn
