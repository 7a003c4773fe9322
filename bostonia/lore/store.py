"""SQL for lorebooks and their entries.

The `insert_lorebook`/`delete_character_books` functions take a connection so other stores can write a
book inside their own transaction (a card and its embedded book are stored together or not at all).
`uid` holds the source id JSON-encoded, so a numeric id comes back as a number and a string as a string.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.lore.schemas import Lorebook, LorebookSummary, LoreEntry

ENTRY_COLUMNS = (
    "keys",
    "secondary_keys",
    "content",
    "name",
    "comment",
    "enabled",
    "constant",
    "selective",
    "selective_logic",
    "insertion_order",
    "priority",
    "position",
    "depth",
    "role",
    "case_sensitive",
    "match_whole_words",
    "use_regex",
    "probability",
    "display_index",
    "extensions",
    "extra",
)
JSON_ENTRY_COLUMNS = ("keys", "secondary_keys", "extensions", "extra")


def _entry_values(entry: LoreEntry) -> list[Any]:
    values = []
    for column in ENTRY_COLUMNS:
        value = getattr(entry, column)
        if column in JSON_ENTRY_COLUMNS:
            value = to_json(value)
        elif isinstance(value, bool):
            value = int(value)
        values.append(value)
    return values


def insert_lorebook(conn: sqlite3.Connection, book: Lorebook, *, owner_id: str | None, character_id: str | None) -> str:
    book_id, now = new_id(), utcnow()
    conn.execute(
        """insert into lorebooks (id, owner_id, character_id, name, description, scan_depth, token_budget,
               recursive_scanning, extensions, extra, created_at, updated_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            book_id,
            owner_id,
            character_id,
            book.name,
            book.description,
            book.scan_depth,
            book.token_budget,
            int(book.recursive_scanning),
            to_json(book.extensions),
            to_json(book.extra),
            now,
            now,
        ),
    )
    marks = ", ".join("?" * (len(ENTRY_COLUMNS) + 6))
    conn.executemany(
        f"""insert into lorebook_entries (id, lorebook_id, uid, seq, created_at, updated_at, {", ".join(ENTRY_COLUMNS)})
            values ({marks})""",
        [
            (new_id(), book_id, None if e.uid is None else to_json(e.uid), seq, now, now, *_entry_values(e))
            for seq, e in enumerate(book.entries)
        ],
    )
    return book_id


def delete_character_books(conn: sqlite3.Connection, character_id: str) -> None:
    conn.execute("delete from lorebooks where character_id = ?", (character_id,))


def entry_from_row(row: dict[str, Any]) -> LoreEntry:
    data = dict(row)
    for column in JSON_ENTRY_COLUMNS:
        data[column] = from_json(data[column], [] if "keys" in column else {})
    data["uid"] = None if data["uid"] is None else from_json(data["uid"])
    return msgspec.convert(data, LoreEntry, strict=False)


def read_lorebook(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> Lorebook | None:
    row = conn.execute(f"select * from lorebooks where {where} order by created_at limit 1", params).fetchone()
    if row is None:
        return None
    data = dict(row)
    data["extensions"] = from_json(data["extensions"], {})
    data["extra"] = from_json(data["extra"], {})
    rows = conn.execute("select * from lorebook_entries where lorebook_id = ? order by seq, rowid", (data["id"],))
    data["entries"] = [entry_from_row(dict(r)) for r in rows]
    return msgspec.convert(data, Lorebook, strict=False)


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> int:
    """A deleted account's lorebooks. Run after the characters' step: the embedded book of a character that
    stays (hidden, or kept without an author) stays with it, ownerless; the books of deleted characters
    went with them."""
    conn.execute("update lorebooks set owner_id = null where owner_id = ? and character_id is not null", (user_id,))
    return conn.execute("delete from lorebooks where owner_id = ?", (user_id,)).rowcount


class LorebookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, book_id: str) -> Lorebook | None:
        return await self.db.read(lambda conn: read_lorebook(conn, "id = ?", (book_id,)))

    async def for_character(self, character_id: str) -> Lorebook | None:
        return await self.db.read(lambda conn: read_lorebook(conn, "character_id = ?", (character_id,)))

    async def create(self, book: Lorebook, *, owner_id: str | None) -> str:
        return await self.db.write(lambda conn: insert_lorebook(conn, book, owner_id=owner_id, character_id=None))

    async def delete(self, book_id: str) -> None:
        await self.db.execute_write("delete from lorebooks where id = ?", (book_id,))

    async def list_for_owner(self, owner_id: str) -> list[LorebookSummary]:
        rows = await self.db.fetchall(
            """select b.id, b.name, b.description, b.character_id, b.created_at, b.updated_at,
                      (select count(*) from lorebook_entries e where e.lorebook_id = b.id) as entry_count
               from lorebooks b where b.owner_id = ? order by b.created_at desc""",
            (owner_id,),
        )
        return [msgspec.convert(row, LorebookSummary) for row in rows]
