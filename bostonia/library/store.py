"""SQL for a user's library: favorite characters and collections of characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.library.schemas import Collection

COLLECTION_SELECT = """
    select c.*, (select count(*) from collection_characters cc where cc.collection_id = c.id) as character_count
    from collections c
"""
COLLECTION_FIELDS = ("name", "description", "is_public")


def collection_from_row(row: Any) -> Collection:
    return msgspec.convert(dict(row), Collection, strict=False)


def _favorite_count(conn: sqlite3.Connection, character_id: str) -> int:
    row = conn.execute("select favorite_count from characters where id = ?", (character_id,)).fetchone()
    return int(row[0]) if row else 0


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """A deleted account's favorites and collections (the characters' counters follow by trigger)."""
    return {
        "favorites": conn.execute("delete from user_favorites where user_id = ?", (user_id,)).rowcount,
        "collections": conn.execute("delete from collections where user_id = ?", (user_id,)).rowcount,
    }


class LibraryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- favorites (the characters capability's triggers keep favorite_count in the same transaction) --

    async def add_favorite(self, user_id: str, character_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                "insert or ignore into user_favorites (user_id, character_id, created_at) values (?, ?, ?)",
                (user_id, character_id, utcnow()),
            )
            return _favorite_count(conn, character_id)

        return await self.db.write(run)

    async def remove_favorite(self, user_id: str, character_id: str) -> tuple[bool, int]:
        def run(conn: sqlite3.Connection) -> tuple[bool, int]:
            removed = conn.execute(
                "delete from user_favorites where user_id = ? and character_id = ?", (user_id, character_id)
            ).rowcount
            return bool(removed), _favorite_count(conn, character_id)

        return await self.db.write(run)

    async def favorite_ids(self, user_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "select character_id from user_favorites where user_id = ? order by created_at desc, rowid desc",
            (user_id,),
        )
        return [row["character_id"] for row in rows]

    # -- collections -------------------------------------------------------------------------------

    async def create_collection(self, user_id: str, name: str, description: str, is_public: bool) -> Collection:
        def run(conn: sqlite3.Connection) -> Collection:
            collection_id, now = new_id(), utcnow()
            conn.execute(
                "insert into collections (id, user_id, name, description, is_public, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (collection_id, user_id, name, description, int(is_public), now, now),
            )
            return collection_from_row(conn.execute(COLLECTION_SELECT + " where c.id = ?", (collection_id,)).fetchone())

        return await self.db.write(run)

    async def collections_of(self, user_id: str) -> list[Collection]:
        rows = await self.db.fetchall(COLLECTION_SELECT + " where c.user_id = ? order by c.created_at", (user_id,))
        return [collection_from_row(row) for row in rows]

    async def collection(self, collection_id: str) -> Collection | None:
        row = await self.db.fetchone(COLLECTION_SELECT + " where c.id = ?", (collection_id,))
        return collection_from_row(row) if row else None

    async def update_collection(self, collection_id: str, changes: Mapping[str, Any]) -> None:
        columns = [name for name in COLLECTION_FIELDS if name in changes]
        if not columns:
            return
        values = [int(v) if isinstance(v, bool) else v for v in (changes[name] for name in columns)]
        assignments = ", ".join(f"{name} = ?" for name in columns)
        await self.db.execute_write(
            f"update collections set {assignments}, updated_at = ? where id = ?", (*values, utcnow(), collection_id)
        )

    async def delete_collection(self, collection_id: str) -> None:
        await self.db.execute_write("delete from collections where id = ?", (collection_id,))

    async def add_to_collection(self, collection_id: str, character_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            now = utcnow()
            added = conn.execute(
                "insert or ignore into collection_characters (collection_id, character_id, position, added_at)"
                " values (?, ?, (select coalesce(max(position), -1) + 1 from collection_characters"
                " where collection_id = ?), ?)",
                (collection_id, character_id, collection_id, now),
            ).rowcount
            conn.execute("update collections set updated_at = ? where id = ?", (now, collection_id))
            return bool(added)

        return await self.db.write(run)

    async def remove_from_collection(self, collection_id: str, character_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            removed = conn.execute(
                "delete from collection_characters where collection_id = ? and character_id = ?",
                (collection_id, character_id),
            ).rowcount
            if removed:
                conn.execute("update collections set updated_at = ? where id = ?", (utcnow(), collection_id))
            return bool(removed)

        return await self.db.write(run)

    async def collection_character_ids(self, collection_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "select character_id from collection_characters where collection_id = ? order by position, added_at",
            (collection_id,),
        )
        return [row["character_id"] for row in rows]
