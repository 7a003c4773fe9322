"""SQL for lorebooks, their entries, their links to chats, users' World Info settings and per-chat state.

The `insert_lorebook`/`replace_character_book` functions take a connection so other stores can write a
book inside their own transaction (a card and its embedded book are stored together or not at all).
`uid` holds the source id JSON-encoded, so a numeric id comes back as a number and a string as a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.lore.schemas import (
    AppliedBook,
    Link,
    LinkScope,
    Lorebook,
    LorebookSummary,
    LoreEntry,
    LoreSettings,
)
from bostonia.lore.timed import EntryState

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
    _insert_entries(conn, book_id, book.entries, now)
    return book_id


def _insert_entries(conn: sqlite3.Connection, book_id: str, entries: list[LoreEntry], now: str) -> None:
    marks = ", ".join("?" * (len(ENTRY_COLUMNS) + 6))
    conn.executemany(
        f"""insert into lorebook_entries (id, lorebook_id, uid, seq, created_at, updated_at, {", ".join(ENTRY_COLUMNS)})
            values ({marks})""",
        [
            (new_id(), book_id, None if e.uid is None else to_json(e.uid), seq, now, now, *_entry_values(e))
            for seq, e in enumerate(entries)
        ],
    )


def delete_character_books(conn: sqlite3.Connection, character_id: str) -> None:
    conn.execute("delete from lorebooks where character_id = ?", (character_id,))


def replace_character_book(
    conn: sqlite3.Connection, character_id: str, book: Lorebook | None, *, owner_id: str | None
) -> None:
    """A character's edited book, stored under the id it had: the chats, personas and "all my chats" it
    is attached to keep it, and so does the editor's address. (Its entries are new rows.)"""
    row = conn.execute(
        "select id from lorebooks where character_id = ? order by created_at limit 1", (character_id,)
    ).fetchone()
    if book is None or row is None:
        delete_character_books(conn, character_id)
        if book is not None:
            insert_lorebook(conn, book, owner_id=owner_id, character_id=character_id)
        return
    book_id, now = row[0], utcnow()
    conn.execute("delete from lorebooks where character_id = ? and id != ?", (character_id, book_id))
    conn.execute(
        """update lorebooks set owner_id = ?, name = ?, description = ?, scan_depth = ?, token_budget = ?,
               recursive_scanning = ?, extensions = ?, extra = ?, updated_at = ? where id = ?""",
        (
            owner_id,
            book.name,
            book.description,
            book.scan_depth,
            book.token_budget,
            int(book.recursive_scanning),
            to_json(book.extensions),
            to_json(book.extra),
            now,
            book_id,
        ),
    )
    conn.execute("delete from lorebook_entries where lorebook_id = ?", (book_id,))
    _insert_entries(conn, book_id, book.entries, now)


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


SCOPE_COLUMNS: dict[str, str] = {"global": "user_id", "persona": "persona_id", "conversation": "conversation_id"}
SOURCE_RANK = {"chat": 0, "persona": 1, "character": 2, "global": 3}
BOOK_FIELDS = ("name", "description", "scan_depth", "token_budget", "recursive_scanning")


class BookRef(msgspec.Struct, frozen=True):
    """A book that applies to a chat: enough to find its compiled form in the cache."""

    id: str
    updated_at: str
    source: str


class TurnInputs(msgspec.Struct):
    books: list[BookRef]
    settings: LoreSettings
    state: list[EntryState]


def settings_from_json(text: str | None) -> LoreSettings:
    raw = from_json(text, {}) if text else {}
    known = {k: v for k, v in raw.items() if k in LoreSettings.__struct_fields__}
    try:
        return msgspec.convert(known, LoreSettings)
    except msgspec.ValidationError:
        return LoreSettings()


CharacterBooks = str | Sequence[str] | None  # the character's book, or (a group chat) every member's


def _applicable(
    conn: sqlite3.Connection, user_id: str, conversation_id: str, character_book: CharacterBooks, persona_id: str | None
) -> list[BookRef]:
    books = [character_book] if isinstance(character_book, str) else list(character_book or [])
    rows = conn.execute(
        """select b.id, b.updated_at, 'character' as source from lorebooks b
           where b.id in (select value from json_each(:book))
           union all
           select b.id, b.updated_at, case when l.conversation_id is not null then 'chat'
                  when l.persona_id is not null then 'persona' else 'global' end
           from lorebook_links l join lorebooks b on b.id = l.lorebook_id and b.owner_id = :user
           where l.conversation_id = :conversation or l.user_id = :user or l.persona_id = :persona""",
        {"book": to_json(books), "user": user_id, "conversation": conversation_id, "persona": persona_id},
    ).fetchall()
    best: dict[str, BookRef] = {}
    for row in sorted(rows, key=lambda r: SOURCE_RANK[r["source"]]):
        best.setdefault(row["id"], BookRef(row["id"], row["updated_at"], row["source"]))
    return list(best.values())


def _touch(conn: sqlite3.Connection, book_id: str) -> None:
    """A book's `updated_at` changes with any of its entries: compiled books are cached by it."""
    conn.execute("update lorebooks set updated_at = ? where id = ?", (utcnow(), book_id))


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

    # -- per turn ------------------------------------------------------------------------------------

    async def turn_inputs(
        self, user_id: str, conversation_id: str, character_book: CharacterBooks, persona_id: str | None
    ) -> TurnInputs:
        """What one World Info scan reads, in one trip to a reader thread."""

        def read(conn: sqlite3.Connection) -> TurnInputs:
            books = _applicable(conn, user_id, conversation_id, character_book, persona_id)
            if not books:
                return TurnInputs([], LoreSettings(), [])
            row = conn.execute("select settings from lore_settings where user_id = ?", (user_id,)).fetchone()
            state = [
                EntryState(entry_id=r[0], kind=r[1], start=r[2], end=r[3], protected=bool(r[4]))
                for r in conn.execute(
                    'select entry_id, kind, start, "end", protected from lore_entry_state where conversation_id = ?',
                    (conversation_id,),
                )
            ]
            return TurnInputs(books, settings_from_json(row[0] if row else None), state)

        return await self.db.read(read)

    async def apply_state(self, conversation_id: str, changes: dict[tuple[str, str], EntryState | None]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for (entry_id, kind), value in changes.items():
                if value is None:
                    conn.execute(
                        "delete from lore_entry_state where conversation_id = ? and entry_id = ? and kind = ?",
                        (conversation_id, entry_id, kind),
                    )
                else:
                    # The entry may have been deleted meanwhile: then there is nothing to remember.
                    conn.execute(
                        """insert or replace into lore_entry_state (conversation_id, entry_id, kind, start, "end",
                               protected)
                           select ?, ?, ?, ?, ?, ? where exists (select 1 from lorebook_entries where id = ?)""",
                        (conversation_id, entry_id, kind, value.start, value.end, int(value.protected), entry_id),
                    )

        await self.db.write(write)

    async def entry_state(self, conversation_id: str) -> list[EntryState]:
        rows = await self.db.fetchall(
            'select entry_id, kind, start, "end", protected from lore_entry_state where conversation_id = ?'
            " order by entry_id, kind",
            (conversation_id,),
        )
        return [
            EntryState(
                entry_id=r["entry_id"], kind=r["kind"], start=r["start"], end=r["end"], protected=bool(r["protected"])
            )
            for r in rows
        ]

    # -- settings --------------------------------------------------------------------------------------

    async def settings(self, user_id: str) -> LoreSettings:
        return settings_from_json(
            await self.db.fetchval("select settings from lore_settings where user_id = ?", (user_id,))
        )

    async def save_settings(self, user_id: str, settings: LoreSettings) -> None:
        await self.db.execute_write(
            """insert into lore_settings (user_id, settings, updated_at) values (?, ?, ?)
               on conflict (user_id) do update set settings = excluded.settings, updated_at = excluded.updated_at""",
            (user_id, to_json(settings), utcnow()),
        )

    # -- editing ---------------------------------------------------------------------------------------

    async def update_book(self, book_id: str, fields: dict[str, Any]) -> None:
        columns = [c for c in BOOK_FIELDS if c in fields]
        values = [int(fields[c]) if isinstance(fields[c], bool) else fields[c] for c in columns]
        sets = ", ".join(f"{c} = ?" for c in columns)

        def write(conn: sqlite3.Connection) -> None:
            if columns:
                conn.execute(f"update lorebooks set {sets} where id = ?", (*values, book_id))
            _touch(conn, book_id)

        await self.db.write(write)

    async def add_entry(self, book_id: str, entry: LoreEntry) -> str:
        entry_id, now = new_id(), utcnow()

        def write(conn: sqlite3.Connection) -> str:
            seq = conn.execute(
                "select coalesce(max(seq), -1) + 1 from lorebook_entries where lorebook_id = ?", (book_id,)
            ).fetchone()[0]
            marks = ", ".join("?" * (len(ENTRY_COLUMNS) + 6))
            conn.execute(
                f"""insert into lorebook_entries (id, lorebook_id, uid, seq, created_at, updated_at,
                        {", ".join(ENTRY_COLUMNS)}) values ({marks})""",
                (
                    entry_id,
                    book_id,
                    None if entry.uid is None else to_json(entry.uid),
                    seq,
                    now,
                    now,
                    *_entry_values(entry),
                ),
            )
            _touch(conn, book_id)
            return entry_id

        return await self.db.write(write)

    async def update_entry(self, book_id: str, entry: LoreEntry) -> None:
        sets = ", ".join(f"{c} = ?" for c in ENTRY_COLUMNS)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"update lorebook_entries set {sets}, updated_at = ? where id = ? and lorebook_id = ?",
                (*_entry_values(entry), utcnow(), entry.id, book_id),
            )
            _touch(conn, book_id)

        await self.db.write(write)

    async def delete_entry(self, book_id: str, entry_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("delete from lorebook_entries where id = ? and lorebook_id = ?", (entry_id, book_id))
            _touch(conn, book_id)

        await self.db.write(write)

    # -- links -----------------------------------------------------------------------------------------

    async def link(self, book_id: str, scope: LinkScope, target_id: str) -> None:
        column = SCOPE_COLUMNS[scope]
        await self.db.execute_write(
            f"""insert into lorebook_links (lorebook_id, {column}) select ?, ?
                where not exists (select 1 from lorebook_links where lorebook_id = ? and {column} = ?)""",
            (book_id, target_id, book_id, target_id),
        )

    async def unlink(self, book_id: str, scope: LinkScope, target_id: str) -> int:
        column = SCOPE_COLUMNS[scope]
        return await self.db.execute_write(
            f"delete from lorebook_links where lorebook_id = ? and {column} = ?", (book_id, target_id)
        )

    async def links(self, book_id: str) -> list[Link]:
        rows = await self.db.fetchall(
            """select lorebook_id, user_id, persona_id, conversation_id, created_at from lorebook_links
               where lorebook_id = ? order by created_at, rowid""",
            (book_id,),
        )
        out = []
        for row in rows:
            scope: LinkScope = "global" if row["user_id"] else "persona" if row["persona_id"] else "conversation"
            target = row["user_id"] or row["persona_id"] or row["conversation_id"]
            out.append(
                Link(lorebook_id=row["lorebook_id"], scope=scope, target_id=target, created_at=row["created_at"])
            )
        return out

    async def applied(
        self, user_id: str, conversation_id: str, character_book: CharacterBooks, persona_id: str | None
    ) -> list[AppliedBook]:
        def read(conn: sqlite3.Connection) -> list[AppliedBook]:
            refs = _applicable(conn, user_id, conversation_id, character_book, persona_id)
            out = []
            for ref in refs:
                row = conn.execute(
                    """select name, (select count(*) from lorebook_entries e where e.lorebook_id = b.id)
                       from lorebooks b where id = ?""",
                    (ref.id,),
                ).fetchone()
                out.append(AppliedBook(id=ref.id, name=row[0], source=ref.source, entry_count=row[1]))
            return out

        return await self.db.read(read)

    async def owner_of(self, book_id: str) -> tuple[str | None, str | None] | None:
        """(owner id, character id) of the book, or None if there is no such book."""
        row = await self.db.fetchone("select owner_id, character_id from lorebooks where id = ?", (book_id,))
        return (row["owner_id"], row["character_id"]) if row else None

    async def entry(self, book_id: str, entry_id: str) -> LoreEntry | None:
        row = await self.db.fetchone(
            "select * from lorebook_entries where id = ? and lorebook_id = ?", (entry_id, book_id)
        )
        return entry_from_row(row) if row else None

    async def entry_count(self, book_id: str) -> int:
        return int(await self.db.fetchval("select count(*) from lorebook_entries where lorebook_id = ?", (book_id,)))
