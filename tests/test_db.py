from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bostonia.app import MIGRATIONS
from bostonia.db import Database, migrations, sqlite3
from bostonia.db.health import integrity

SEED_TABLES = {
    "users",
    "user_preferences",
    "subscriptions",
    "credit_balances",
    "characters",
    "character_tags",
    "character_ratings",
    "conversations",
    "messages",
    "conversation_memories",
    "conversation_summaries",
    "lorebooks",
    "lorebook_entries",
    "creator_profiles",
    "creator_earnings",
    "payouts",
    "user_favorites",
    "collections",
    "collection_characters",
}


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "test.db", migrations=MIGRATIONS, read_connections=2)
    database.migrate_sync()
    yield database
    database.close()


def test_connection_has_wal_foreign_keys_and_sqlite_vec(db: Database) -> None:
    def pragmas(conn):
        return (
            conn.execute("pragma journal_mode").fetchone()[0],
            conn.execute("pragma foreign_keys").fetchone()[0],
            conn.execute("select vec_version()").fetchone()[0],
        )

    mode, fks, vec = db.read_sync(pragmas)
    assert mode == "wal" and fks == 1 and vec.startswith("v")


def test_seed_schema_is_complete(db: Database) -> None:
    names = {row[0] for row in db.read_sync(lambda c: c.execute("select name from sqlite_master").fetchall())}
    assert names >= SEED_TABLES
    assert "memory_vectors" in names  # the vec0 table (memory's recall index replaced the seed's)
    assert integrity(db)["pending_migrations"] == []


def test_migrations_are_idempotent(db: Database) -> None:
    assert db.migrate_sync() == []


def test_vec0_table_stores_and_finds_vectors(db: Database) -> None:
    vector = "[" + ",".join(["0.1"] * migrations.EMBEDDING_DIMENSIONS) + "]"

    def roundtrip(conn):
        conn.execute(
            "insert into memory_vectors (document_id, conversation_id, embedding) values (7, 'c1', ?)", (vector,)
        )
        return conn.execute(
            "select document_id from memory_vectors where embedding match ? and k = 1 and conversation_id = 'c1'",
            (vector,),
        ).fetchall()

    assert [row[0] for row in db.write_sync(roundtrip)] == [7]


def test_a_failing_write_changes_nothing(db: Database) -> None:
    def half_written(conn):
        conn.execute("insert into users (id, email, display_name) values ('u1', 'x@example.com', 'x')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.write_sync(half_written)
    assert db.read_sync(lambda c: c.execute("select count(*) from users").fetchone()[0]) == 0


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.write_sync(
            lambda c: c.execute(
                "insert into conversations (id, user_id, character_id) values ('c', 'no-user', 'no-char')"
            )
        )


def test_json_columns_are_checked(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.write_sync(
            lambda c: c.execute("insert into characters (id, name, extensions) values ('c1', 'n', 'not json')")
        )


def test_async_reads_and_writes(db: Database) -> None:
    async def main():
        await db.execute_write("insert into users (id, email, display_name) values ('u1', 'a@example.com', 'A')")
        return await asyncio.gather(*(db.fetchval("select count(*) from users") for _ in range(10)))

    assert asyncio.run(main()) == [1] * 10


def test_backup_copies_a_live_database(db: Database, tmp_path: Path) -> None:
    db.write_sync(
        lambda c: c.execute("insert into users (id, email, display_name) values ('u1', 'a@example.com', 'A')")
    )
    target = tmp_path / "copy.db"
    db.backup(target)
    copy = Database(target, read_connections=1)
    try:
        assert copy.read_sync(lambda c: c.execute("select email from users").fetchone()[0]) == "a@example.com"
        assert integrity(copy)["integrity"] == "ok"
    finally:
        copy.close()
