"""SQL for characters, their tags, ratings, CharX assets and embedded lorebooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.cards.model import CharacterCard
from bostonia.characters.schemas import TEXT_FIELDS, Character, Review, Sort
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.lore.schemas import Lorebook
from bostonia.lore.store import insert_lorebook, replace_character_book

COLUMNS = """
    c.*,
    (select json_group_array(tag) from (select t.tag from character_tags t where t.character_id = c.id
                                        order by t.position, t.tag)) as tags,
    (select l.id from lorebooks l where l.character_id = c.id order by l.created_at limit 1) as lorebook_id
"""
SELECT = f"select {COLUMNS} from characters c"
JSON_COLUMNS = ("alternate_greetings", "settings", "extensions", "tags")
# Matches ranked per search at most (see `CharacterStore.search`).
RANK_WINDOW = 200
SORT_COLUMNS: dict[str, str] = {"new": "created_at", "popular": "total_conversations", "rating": "avg_rating"}
# Character columns that take a `CharacterCreate`/`CharacterUpdate` field of the same name as it is.
PLAIN_COLUMNS = (
    *TEXT_FIELDS,
    "alternate_greetings",
    "visibility",
    "content_tier",
    "is_premium",
    "premium_credits",
    "extensions",
)
# Columns a PATCH may change (the service validates values; the store only writes these names).
UPDATABLE = frozenset({*PLAIN_COLUMNS, "settings", "card_extra", "avatar_path"})


def avatar_urls(avatar_path: str | None) -> tuple[str | None, str | None]:
    """The full image and its thumbnail (`<hash>.png` and `<hash>.thumb.webp` side by side)."""
    if not avatar_path:
        return None, None
    return f"/media/avatars/{avatar_path}", f"/media/avatars/{avatar_path.rsplit('.', 1)[0]}.thumb.webp"


def character_from_row(row: Any) -> Character:
    data = dict(row)
    for column in JSON_COLUMNS:
        data[column] = from_json(data[column], [])
    extra = from_json(data.get("card_extra"), {})
    nickname = extra.pop("nickname", "")
    data["nickname"] = nickname if isinstance(nickname, str) else ""
    data["group_only_greetings"] = extra.pop("group_only_greetings", None) or []
    data["card_extra"] = extra
    data["avatar_url"], data["avatar_thumb_url"] = avatar_urls(data.get("avatar_path"))
    return msgspec.convert(data, Character, strict=False)


def visible_to(viewer_id: str | None, content_tiers: Sequence[str]) -> tuple[list[str], list[Any]]:
    """WHERE clauses (and parameters) for characters a viewer may find in lists and search.

    The unary `+` keeps SQLite from choosing the (visibility, content_tier) index and then sorting every public
    character: almost all of them match, so reading the sort-order index and filtering is what stays fast."""
    where = ["c.deleted_at is null", f"+c.content_tier in ({','.join('?' * len(content_tiers))})"]
    params: list[Any] = list(content_tiers)
    if viewer_id is None:
        where.append("+c.visibility = 'public' and c.hidden_at is null")
    else:
        where.append("((+c.visibility = 'public' and c.hidden_at is null) or c.creator_id = ?)")
        params.append(viewer_id)
    return where, params


def rows_in_order(conn: sqlite3.Connection, ids: Sequence[str]) -> list[Character]:
    """Full characters for ids chosen by a cheap query, in that order. Selecting ids first matters: SQLite
    evaluates the per-row subqueries (tags, lorebook) for every row it sorts, not just those it returns."""
    if not ids:
        return []
    rows = conn.execute(SELECT + f" where c.id in ({','.join('?' * len(ids))})", tuple(ids)).fetchall()
    by_id = {row["id"]: row for row in rows}
    return [character_from_row(by_id[i]) for i in ids if i in by_id]


class CharacterRecord(msgspec.Struct, kw_only=True):
    """Everything stored for a new character: its card plus what Bostonia adds."""

    id: str
    card: CharacterCard
    creator_id: str | None
    tagline: str
    visibility: str = "private"
    content_tier: str = "sfw"
    is_premium: bool = False
    premium_credits: int = 0
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    avatar_path: str | None = None
    is_bundled: bool = False
    book: Lorebook | None = None
    assets: list[tuple[str, str, int]] = msgspec.field(default_factory=list)  # (path, sha256, size)
    card_digest: str | None = None  # of an imported file's card and picture (duplicate imports)


def insert_tags(conn: sqlite3.Connection, character_id: str, tags: Sequence[str]) -> None:
    conn.executemany(
        "insert or ignore into character_tags (character_id, tag, position) values (?, ?, ?)",
        [(character_id, tag, position) for position, tag in enumerate(tags)],
    )


def insert_character(conn: sqlite3.Connection, record: CharacterRecord, now: str) -> None:
    card = record.card
    # Tags first (foreign keys checked at commit): the FTS row the characters trigger writes then includes them,
    # instead of being rewritten once per tag.
    conn.execute("pragma defer_foreign_keys = on")
    insert_tags(conn, record.id, card.tags)
    conn.execute(
        """insert into characters (id, creator_id, name, tagline, description, personality, scenario,
            greeting, example_dialogue, system_prompt, post_history_instructions, alternate_greetings,
            creator_notes, creator_name, character_version, avatar_path, visibility, content_tier, is_premium,
            premium_credits, settings, extensions, card_extra, card_top_level, is_bundled, card_digest, created_at,
            updated_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            record.id,
            record.creator_id,
            card.name,
            record.tagline,
            card.description,
            card.personality,
            card.scenario,
            card.first_mes,
            card.mes_example,
            card.system_prompt,
            card.post_history_instructions,
            to_json(card.alternate_greetings),
            card.creator_notes,
            card.creator,
            card.character_version,
            record.avatar_path,
            record.visibility,
            record.content_tier,
            int(record.is_premium),
            record.premium_credits,
            to_json(record.settings),
            to_json(card.extensions),
            to_json(card.extra),
            to_json(card.top_level),
            int(record.is_bundled),
            record.card_digest,
            now,
            now,
        ),
    )
    if record.book is not None:
        insert_lorebook(conn, record.book, owner_id=record.creator_id, character_id=record.id)
    conn.executemany(
        "insert into character_assets (character_id, path, sha256, size) values (?, ?, ?, ?)",
        [(record.id, *asset) for asset in record.assets],
    )


def delete_owned_by(conn: sqlite3.Connection, user_id: str, *, keep_listed: bool) -> dict[str, int]:
    """A deleted account's characters and ratings. "delete" removes its characters, "anonymise"
    (`keep_listed`) keeps the public and unlisted ones without an author. Either way a character that other
    users have conversations with is only hidden (soft-deleted), so their chats keep working."""
    in_use = {
        row[0]
        for row in conn.execute(
            "select distinct c.id from characters c join conversations v on v.character_id = c.id"
            " where c.creator_id = ? and v.user_id is not c.creator_id",
            (user_id,),
        )
    }
    now = utcnow()
    removed = hidden = 0
    for character_id, visibility in conn.execute(
        "select id, visibility from characters where creator_id = ?", (user_id,)
    ).fetchall():
        if keep_listed and visibility != "private":
            continue
        if character_id in in_use:
            conn.execute(
                "update characters set deleted_at = coalesce(deleted_at, ?), updated_at = ? where id = ?",
                (now, now, character_id),
            )
            hidden += 1
        else:
            conn.execute("delete from characters where id = ?", (character_id,))
            removed += 1
    kept = conn.execute(
        "update characters set creator_id = null, creator_name = '', updated_at = ? where creator_id = ?"
        " and deleted_at is null",
        (now, user_id),
    ).rowcount
    conn.execute("update characters set creator_id = null, creator_name = '' where creator_id = ?", (user_id,))
    ratings = conn.execute("delete from character_ratings where user_id = ?", (user_id,)).rowcount
    return {"characters": removed + hidden, "characters_hidden": hidden, "characters_kept": kept, "ratings": ratings}


class CharacterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ------------------------------------------------------------------------------------

    async def get(self, character_id: str, *, include_deleted: bool = False) -> Character | None:
        live = "" if include_deleted else " and c.deleted_at is null"
        row = await self.db.fetchone(SELECT + " where c.id = ?" + live, (character_id,))
        return character_from_row(row) if row else None

    async def get_many(self, ids: Sequence[str]) -> dict[str, Character]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(SELECT + f" where c.id in ({marks}) and c.deleted_at is null", tuple(ids))
        return {row["id"]: character_from_row(row) for row in rows}

    async def list_visible(
        self,
        *,
        viewer_id: str | None,
        content_tiers: Sequence[str],
        sort: Sort = "popular",
        tag: str | None = None,
        creator_id: str | None = None,
        after: tuple[Any, str] | None = None,
        limit: int = 100,
    ) -> list[Character]:
        """Public characters within the allowed content tiers, plus the viewer's own; newest/most popular/best
        rated first; `after` is the (sort value, id) of the last item of the previous page."""
        column = SORT_COLUMNS[sort]
        where, params = visible_to(viewer_id, content_tiers)
        if tag:
            where.append("exists (select 1 from character_tags t where t.character_id = c.id and t.tag = ?)")
            params.append(tag)
        if creator_id:
            where.append("c.creator_id = ?")
            params.append(creator_id)
        if after is not None:
            where.append(f"(c.{column}, c.id) < (?, ?)")
            params.extend(after)
        sql = f"select c.id from characters c where {' and '.join(where)} order by c.{column} desc, c.id desc limit ?"

        def run(conn: sqlite3.Connection) -> list[Character]:
            ids = [row[0] for row in conn.execute(sql, (*params, limit))]
            return rows_in_order(conn, ids)

        return await self.db.read(run)

    async def search(
        self, fts_query: str, *, viewer_id: str | None, content_tiers: Sequence[str], limit: int
    ) -> list[Character]:
        """Full-text matches the viewer may see, best first (bm25 weighted by column, see migrations)."""
        where, params = visible_to(viewer_id, content_tiers)
        sql = f"""select c.id from characters_fts f
                  join character_search_keys k on k.id = f.rowid
                  join characters c on c.id = k.character_id
               where characters_fts match ? and f.rowid >= ? and {" and ".join(where)}
               order by f.rank limit ?"""

        def run(conn: sqlite3.Connection) -> list[Character]:
            # Ranking is the costly part (bm25 reads every match's positions): a query matching more than
            # RANK_WINDOW characters is ranked among the most recently added RANK_WINDOW of them. Finding where
            # that window starts only walks row ids, which is cheap.
            floor = conn.execute(
                "select rowid from characters_fts where characters_fts match ? order by rowid desc limit 1 offset ?",
                (fts_query, RANK_WINDOW - 1),
            ).fetchone()
            ids = [row[0] for row in conn.execute(sql, (fts_query, floor[0] if floor else 0, *params, limit))]
            if floor and len(ids) < limit:  # the window held too few the viewer may see: rank them all
                ids = [row[0] for row in conn.execute(sql, (fts_query, 0, *params, limit))]
            return rows_in_order(conn, ids)

        return await self.db.read(run)

    async def like_search(self, word: str, *, content_tiers: Sequence[str], limit: int) -> list[Character]:
        """A plain `LIKE` scan over names and descriptions: the benchmark's baseline for full-text search."""
        marks = ",".join("?" * len(content_tiers))
        pattern = f"%{word}%"
        rows = await self.db.fetchall(
            SELECT + f" where c.deleted_at is null and c.visibility = 'public' and c.content_tier in ({marks})"
            " and (c.name like ? or c.description like ?) order by c.total_conversations desc limit ?",
            (*content_tiers, pattern, pattern, limit),
        )
        return [character_from_row(row) for row in rows]

    async def vocabulary(self, *, min_length: int = 3, max_length: int = 30) -> list[tuple[str, int]]:
        """Every word of the search index with the number of characters using it (for typo correction)."""
        rows = await self.db.fetchall(
            "select term, doc from characters_fts_terms where length(term) between ? and ?", (min_length, max_length)
        )
        return [(row["term"], row["doc"]) for row in rows]

    async def activity(self, since: str) -> list[tuple[str, str, int, float]]:
        """Recent engagement per character: (character_id, kind, age in whole days, amount), for trending.
        Ratings count by how good they are (1 star subtracts, 5 stars adds most)."""
        return [
            (row["character_id"], row["kind"], int(row["age"]), float(row["amount"]))
            for row in await self.db.fetchall(
                """
                select character_id, 'conversation' as kind,
                       cast(julianday('now') - julianday(created_at) as integer) as age, count(*) as amount
                from conversations where created_at >= ?1 group by 1, 3
                union all
                select v.character_id, 'message', cast(julianday('now') - julianday(m.created_at) as integer),
                       count(*)
                from messages m join conversations v on v.id = m.conversation_id
                where m.created_at >= ?1 and m.role = 'user' group by 1, 3
                union all
                select character_id, 'rating', cast(julianday('now') - julianday(updated_at) as integer),
                       sum(rating - 2.5)
                from character_ratings where updated_at >= ?1 group by 1, 3
                union all
                select character_id, 'favorite', cast(julianday('now') - julianday(created_at) as integer),
                       count(*)
                from user_favorites where created_at >= ?1 group by 1, 3
                """,
                (since,),
            )
        ]

    async def public_tiers(self, ids: Sequence[str]) -> dict[str, str]:
        """Content tier of each listed character that is public and not deleted."""
        result: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.db.fetchall(
                f"select id, content_tier from characters where id in ({','.join('?' * len(chunk))})"
                " and visibility = 'public' and deleted_at is null and hidden_at is null",
                tuple(chunk),
            )
            result.update({row["id"]: row["content_tier"] for row in rows})
        return result

    async def public_index(self, limit: int) -> list[tuple[str, str]]:
        """(id, updated_at) of the characters anyone may see, newest change first (the sitemap)."""
        rows = await self.db.fetchall(
            "select id, updated_at from characters where visibility = 'public' and content_tier = 'sfw'"
            " and deleted_at is null and hidden_at is null order by updated_at desc limit ?",
            (limit,),
        )
        return [(row["id"], row["updated_at"]) for row in rows]

    async def with_digests(self, owner_id: str | None, digests: Sequence[str]) -> dict[str, str]:
        """digest -> id of the owner's existing character imported from that very card (not deleted)."""
        if not digests:
            return {}
        marks = ",".join("?" * len(digests))
        rows = await self.db.fetchall(
            f"select card_digest, id from characters where card_digest in ({marks})"
            " and creator_id is ? and deleted_at is null order by created_at",
            (*digests, owner_id),
        )
        return {row["card_digest"]: row["id"] for row in rows}

    async def card_parts(self, character_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The raw `card_extra` and `card_top_level` columns, for a lossless export."""
        row = await self.db.fetchone("select card_extra, card_top_level from characters where id = ?", (character_id,))
        if row is None:
            return {}, {}
        return from_json(row["card_extra"], {}), from_json(row["card_top_level"], {})

    async def assets(self, character_id: str) -> list[tuple[str, str]]:
        rows = await self.db.fetchall(
            "select path, sha256 from character_assets where character_id = ? order by path", (character_id,)
        )
        return [(row["path"], row["sha256"]) for row in rows]

    async def is_favorite(self, user_id: str, character_id: str) -> bool:
        return bool(
            await self.db.fetchval(
                "select exists(select 1 from user_favorites where user_id = ? and character_id = ?)",
                (user_id, character_id),
            )
        )

    async def top_tags(self, limit: int = 24) -> list[tuple[str, int]]:
        rows = await self.db.fetchall(
            """select t.tag, count(*) as n from character_tags t join characters c on c.id = t.character_id
               where c.visibility = 'public' and c.deleted_at is null and c.hidden_at is null and c.content_tier = 'sfw'
               group by t.tag order by n desc, t.tag limit ?""",
            (limit,),
        )
        return [(row["tag"], row["n"]) for row in rows]

    async def exists(self, character_id: str) -> bool:
        return bool(await self.db.fetchval("select exists(select 1 from characters where id = ?)", (character_id,)))

    # -- writing ------------------------------------------------------------------------------------

    async def insert(self, records: Sequence[CharacterRecord]) -> None:
        """Store characters (with their tags, books and assets) in one transaction: all or none."""

        def write(conn: sqlite3.Connection) -> None:
            now = utcnow()
            for record in records:
                insert_character(conn, record, now)

        await self.db.write(write)

    async def create_from_card(
        self,
        character_id: str,
        card: CharacterCard,
        *,
        creator_id: str | None,
        visibility: str = "private",
        content_tier: str = "sfw",
        is_bundled: bool = False,
    ) -> None:
        record = CharacterRecord(
            id=character_id,
            card=card,
            creator_id=creator_id,
            tagline=card.tagline,
            visibility=visibility,
            content_tier=content_tier,
            is_bundled=is_bundled,
        )
        await self.insert([record])

    async def update(
        self,
        character_id: str,
        columns: dict[str, Any],
        *,
        tags: list[str] | None = None,
        book: Lorebook | None = None,
        replace_book: bool = False,
        owner_id: str | None = None,
    ) -> None:
        unknown = set(columns) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")

        def write(conn: sqlite3.Connection) -> None:
            values = {k: to_json(v) if isinstance(v, dict | list) else v for k, v in columns.items()}
            values = {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}
            values["updated_at"] = utcnow()
            conn.execute(
                f"update characters set {', '.join(f'{k} = ?' for k in values)} where id = ?",
                (*values.values(), character_id),
            )
            if tags is not None:
                conn.execute("delete from character_tags where character_id = ?", (character_id,))
                insert_tags(conn, character_id, tags)
            if replace_book:
                replace_character_book(conn, character_id, book, owner_id=owner_id)

        await self.db.write(write)

    async def set_hidden(self, character_id: str, hidden: bool) -> None:
        await self.db.execute_write(
            "update characters set hidden_at = ?, updated_at = ? where id = ?",
            (utcnow() if hidden else None, utcnow(), character_id),
        )

    async def soft_delete(self, character_id: str) -> None:
        await self.db.execute_write(
            "update characters set deleted_at = ?, updated_at = ? where id = ?", (utcnow(), utcnow(), character_id)
        )

    # -- ratings --------------------------------------------------------------------------------------

    async def rate(self, character_id: str, user_id: str, rating: int, review: str | None) -> tuple[Review, float, int]:
        """Insert or update the user's rating and refresh the character's average in the same transaction.
        Returns the review and the character's new average and count."""

        def write(conn: sqlite3.Connection) -> tuple[Review, float, int]:
            now = utcnow()
            existing = conn.execute(
                "select id from character_ratings where character_id = ? and user_id = ?", (character_id, user_id)
            ).fetchone()
            if existing is None:
                conn.execute(
                    """insert into character_ratings (id, character_id, user_id, rating, review, created_at, updated_at)
                       values (?, ?, ?, ?, ?, ?, ?)""",
                    (new_id(), character_id, user_id, rating, review, now, now),
                )
            else:
                conn.execute(
                    "update character_ratings set rating = ?, review = ?, updated_at = ? where id = ?",
                    (rating, review, now, existing["id"]),
                )
            row = conn.execute(
                REVIEW_SELECT + " where r.character_id = ? and r.user_id = ?", (character_id, user_id)
            ).fetchone()
            average, count = conn.execute(
                "select avg_rating, rating_count from characters where id = ?", (character_id,)
            ).fetchone()
            return msgspec.convert(dict(row), Review), float(average), int(count)

        return await self.db.write(write)

    async def reviews(self, character_id: str, *, after: tuple[str, str] | None, limit: int) -> list[Review]:
        where, params = "r.character_id = ?", [character_id]
        if after is not None:
            where += " and (r.updated_at, r.id) < (?, ?)"
            params.extend(after)
        rows = await self.db.fetchall(
            REVIEW_SELECT + f" where {where} order by r.updated_at desc, r.id desc limit ?", (*params, limit)
        )
        return [msgspec.convert(row, Review) for row in rows]


REVIEW_SELECT = """
    select r.id, r.character_id, r.user_id, coalesce(u.display_name, '') as user_name, r.rating, r.review,
           r.created_at, r.updated_at
    from character_ratings r left join users u on u.id = r.user_id
"""
