"""Put a backup back: `bostonia db restore FILE`.

The order makes every failure harmless: refuse while a server holds the data directory (and hold it
ourselves meanwhile, so none starts); copy the backup next to the database with SQLite's backup API;
verify the copy (integrity, foreign keys, migrations this version knows, sqlite-vec tables readable);
only then move the current database aside (kept, with its WAL folded in) and rename the copy into place.
A bad backup or a live server changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from bostonia.db.connection import connect, sqlite3
from bostonia.db.lock import DataDirLock, LockHeld
from bostonia.db.migrations import MigrationSets

COUNTED_TABLES = ("users", "characters", "conversations", "messages")


class RestoreRefused(Exception):
    """The backup was not restored; nothing was changed."""


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    pending_migrations: list[str] = field(default_factory=list)  # an older backup: applied at the next start
    vector_tables: dict[str, int] = field(default_factory=dict)  # sqlite-vec tables and their rows
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Restored:
    database: Path
    previous: Path | None  # where the database it replaced was moved (None: there was none)
    verification: Verification


def known_migrations(sets: MigrationSets) -> set[str]:
    """Every `set:name` this version (with its enabled plugins) can apply."""
    empty = sqlite_utils.Database(memory=True)
    return {f"{s.name}:{m.name}" for s in sets for m in s.pending(empty)}


def verify(path: Path, sets: MigrationSets) -> Verification:
    """Check a database file (opened as the server opens it: sqlite-vec loaded)."""
    result = Verification()
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        result.problems.append(f"cannot open it as SQLite: {exc}")
        return result
    try:
        try:
            integrity = [row[0] for row in conn.execute("pragma integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            result.problems.append(f"not a SQLite database: {exc}")
            return result
        if integrity != ["ok"]:
            result.problems.append("integrity check: " + "; ".join(integrity[:5]))
        if violations := conn.execute("pragma foreign_key_check").fetchall():
            result.problems.append(f"{len(violations)} foreign key violations")
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        if "_sqlite_migrations" not in tables:
            result.problems.append("no migrations table: not a Bostonia database")
            return result
        applied = {f"{row[0]}:{row[1]}" for row in conn.execute("select migration_set, name from _sqlite_migrations")}
        known = known_migrations(sets)
        if unknown := sorted(applied - known):
            result.problems.append(
                "migrations this version does not know (a newer Bostonia, or a plugin not enabled): "
                + ", ".join(unknown)
            )
        result.pending_migrations = sorted(known - applied)
        vec_tables = [
            row[0]
            for row in conn.execute("select name from sqlite_master where type = 'table' and sql like '%using vec0%'")
        ]
        for name in vec_tables:
            quoted = quote_identifier(name)  # a name from the file being verified: it may be anything
            try:
                conn.execute(f"select * from {quoted} limit 1").fetchall()
                result.vector_tables[name] = conn.execute(f"select count(*) from {quoted}").fetchone()[0]
            except sqlite3.Error as exc:
                result.problems.append(f"sqlite-vec table {name} is not readable: {exc}")
        for name in COUNTED_TABLES:
            if name in tables:
                result.counts[name] = conn.execute(f"select count(*) from {quote_identifier(name)}").fetchone()[0]
    finally:
        conn.close()
    return result


def restore(backup: Path, database: Path, data_dir: Path, sets: MigrationSets) -> Restored:
    """Replace `database` by a verified copy of `backup`; raises `RestoreRefused` having changed nothing."""
    backup, database = Path(backup), Path(database)
    if not backup.is_file():
        raise RestoreRefused(f"{backup} is not a file")
    if database.exists() and backup.resolve() == database.resolve():
        raise RestoreRefused(f"{backup} is the database itself")
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except LockHeld as held:
        who = f" (pid {held.pid})" if held.pid else ""
        raise RestoreRefused(f"a Bostonia server{who} is running on {data_dir}: stop it first") from None
    try:
        staging = database.with_name(database.name + ".restoring")
        _remove(staging)
        try:
            _copy(backup, staging)
        except (sqlite3.Error, OSError) as exc:
            _remove(staging)
            raise RestoreRefused(f"{backup} could not be read as a SQLite database: {exc}") from None
        verification = verify(staging, sets)
        if not verification.ok:
            _remove(staging)
            raise RestoreRefused(f"{backup} failed verification: " + "; ".join(verification.problems))
        previous = _set_aside(database) if database.exists() else None
        os.replace(staging, database)
        _fsync_dir(database.parent)
        return Restored(database=database, previous=previous, verification=verification)
    finally:
        lock.release()


def _copy(source: Path, target: Path) -> None:
    """Copy the file (and a WAL beside it, if the copy was taken that way), then fold the WAL in: the backup
    itself is only read, never opened by SQLite (which would leave -wal/-shm files beside it)."""
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    conn = connect(target)
    try:
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()


def _set_aside(database: Path) -> Path:
    """Move the current database out of the way, whole: its WAL is folded into the file first (a WAL left
    beside the restored file would be replayed into it)."""
    conn = connect(database)
    try:
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = database.with_name(f"{database.name}.before-restore-{stamp}")
    os.replace(database, aside)
    for suffix in ("-wal", "-shm"):
        leftover = database.with_name(database.name + suffix)
        if leftover.exists():
            os.replace(leftover, aside.with_name(aside.name + suffix))
    return aside


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def quote_identifier(name: str) -> str:
    """`name` as an SQL identifier, whatever it holds (an embedded quote is doubled)."""
    return '"' + name.replace('"', '""') + '"'
