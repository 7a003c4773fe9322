"""Async access to the one SQLite file: a single writer thread, a pool of reader threads.

Store code is plain synchronous DB-API code (`fn(conn)`), run on these threads. Every write goes
through the one writer inside `BEGIN IMMEDIATE`, so a write function is a transaction: it commits
as a whole or not at all, and writers never contend for the lock. Reads run concurrently (WAL).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bostonia.db import migrations
from bostonia.db.connection import connect, sqlite3
from bostonia.db.migrations import MigrationSets

T = TypeVar("T")
Params = Sequence[Any] | Mapping[str, Any]


class Database:
    def __init__(
        self, path: Path, *, migrations: MigrationSets = (), read_connections: int = 4, busy_timeout_ms: int = 5000
    ) -> None:
        self.path = Path(path)
        self.migrations = tuple(migrations)  # the schema this database must have
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="bostonia-db-write")
        self._readers = ThreadPoolExecutor(read_connections, thread_name_prefix="bostonia-db-read")

    # -- connections ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, busy_timeout_ms=self._busy_timeout_ms)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- running functions ---------------------------------------------------------------------

    def _run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        conn.execute("begin immediate")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("commit")
        return result

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._connection())

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` as one transaction on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._run_write, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, fn)

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """The blocking form of `write`, for start-up and the CLI."""
        return self._writer.submit(self._run_write, fn).result()

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._readers.submit(self._run_read, fn).result()

    # -- schema ------------------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        return await self.write(lambda conn: migrations.apply(conn, self.migrations))

    def migrate_sync(self) -> list[str]:
        return self.write_sync(lambda conn: migrations.apply(conn, self.migrations))

    def pending_migrations(self, conn: sqlite3.Connection) -> list[str]:
        return migrations.pending(conn, self.migrations)

    # -- conveniences ----------------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return await self.read(lambda conn: [dict(row) for row in conn.execute(sql, params)])

    async def fetchone(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        def run(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(sql, params).fetchone()
            return dict(row) if row is not None else None

        return await self.read(run)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))

    async def execute_write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; returns the number of rows changed."""
        return await self.write(lambda conn: conn.execute(sql, params).rowcount)

    def backup(self, destination: Path) -> None:
        """Copy the live database with SQLite's online backup API (safe while the server runs)."""
        target = sqlite3.connect(str(destination))
        try:
            self.read_sync(lambda conn: conn.backup(target))
        finally:
            target.close()
