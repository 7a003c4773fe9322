"""SQL for conversations and their message tree.

Every message points at its parent. Siblings (same parent) are swipes: alternatives for one turn. The
conversation's `active_leaf_id` names the last message of the path being shown; walking parents from
it gives the active path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from bostonia.chat.group import talkativeness_of
from bostonia.chat.room_store import copy_cast, insert_cast
from bostonia.chat.schemas import Conversation, GroupSettings, Member, Message, SearchHit, Speaker
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow

# With each conversation: its cast (a group's members as JSON; none for one character, whose card's
# talkativeness comes along) and how many people share it (the owner + those invited in).
CONVERSATION_SELECT = """
    select v.*, c.name as character_name, json_extract(c.extensions, '$.talkativeness') as character_talkativeness,
      (select json_group_array(json_object('character_id', m.character_id, 'name', mc.name, 'position', m.position,
              'muted', m.is_muted,
              'talkativeness', coalesce(m.talkativeness, json_extract(mc.extensions, '$.talkativeness'))))
         from conversation_characters m join characters mc on mc.id = m.character_id
        where m.conversation_id = v.id) as cast_json,
      1 + (select count(*) from conversation_people p where p.conversation_id = v.id) as people_count
    from conversations v join characters c on c.id = v.character_id
"""
# The active path, leaf first: walk from the conversation's active leaf up through the parents.
PATH_CTE = """
    with recursive path(id, depth) as (
        select active_leaf_id, 0 from conversations where id = :conversation_id and active_leaf_id is not null
        union all
        select m.parent_id, path.depth + 1 from messages m join path on m.id = path.id
        where m.parent_id is not null
    )
"""
# Siblings (swipes, greetings, imported branches) are in creation order; ties of the same millisecond (an
# imported chat's swipes without times of their own) in the order they were stored (rowid, not the random id).
MESSAGE_COLUMNS = """
    m.*,
    (select count(*) from messages s
      where s.conversation_id = m.conversation_id and s.parent_id is m.parent_id) as sibling_count,
    (select count(*) from messages s
      where s.conversation_id = m.conversation_id and s.parent_id is m.parent_id
        and (s.created_at, s.rowid) < (m.created_at, m.rowid)) as sibling_index
"""
# The newest descendant line under a message: where its branch of the tree currently ends.
NEWEST_LEAF = """
    with recursive down(id, depth) as (
        select :message_id, 0
        union all
        select (select c.id from messages c where c.parent_id = down.id
                order by c.created_at desc, c.rowid desc limit 1),
               down.depth + 1
        from down where exists (select 1 from messages c where c.parent_id = down.id)
    )
    select id from down order by depth desc limit 1
"""
TITLE_LENGTH = 60


def conversation_from_row(row: Any) -> Conversation:
    data = dict(row)
    data["settings"] = from_json(data["settings"], {})
    cast = sorted(from_json(data.pop("cast_json", None), []) or [], key=lambda member: member["position"])
    group = from_json(data.pop("group_settings", None), None)
    card_talkativeness = data.pop("character_talkativeness", None)
    if cast:
        data["members"] = [
            Member(
                character_id=m["character_id"],
                name=m["name"],
                muted=bool(m["muted"]),
                talkativeness=talkativeness_of(m["talkativeness"]),
            )
            for m in cast
        ]
    else:
        data["members"] = [
            Member(
                character_id=data["character_id"],
                name=data["character_name"],
                talkativeness=talkativeness_of(card_talkativeness),
            )
        ]
    data["is_group"] = group is not None
    data.update(group or {})
    return msgspec.convert(data, Conversation, strict=False)


def message_from_row(row: Any) -> Message:
    data = dict(row)
    data["metadata"] = from_json(data.get("metadata"), {})
    return msgspec.convert(data, Message, strict=False)


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def fts_query(text: str) -> str | None:
    """A safe FTS5 query: every word must match, the last one as a prefix (search as you type)."""
    words = ["".join(ch for ch in word if ch.isalnum()) for word in text.split()]
    words = [word for word in words if word]
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


class ImportedMessage(msgspec.Struct, kw_only=True):
    """A message of an imported tree; `key`/`parent_key` are the file's own references."""

    key: str
    parent_key: str | None
    role: str
    content: str
    created_at: str
    model_used: str | None = None
    tokens_used: int | None = None
    status: str = "complete"
    is_regeneration: bool = False
    edited_at: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    character_id: str | None = None
    user_id: str | None = None
    speaker_name: str | None = None
    ooc: bool = False


def delete_owned_by(conn: sqlite3.Connection, user_id: str) -> int:
    """A deleted account's conversations, with their messages (and all that hangs off them)."""
    return conn.execute("delete from conversations where user_id = ?", (user_id,)).rowcount


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- conversations ---------------------------------------------------------------------------

    async def create(
        self,
        *,
        user_id: str,
        character_id: str,
        greetings: Sequence[str],
        persona_id: str | None = None,
        shown_greeting: int = 0,
        also_in_transaction: Callable[[sqlite3.Connection, str], None] | None = None,
    ) -> Conversation:
        """A new conversation. The greetings become the first message and its swipes; `shown_greeting` (an
        index into `greetings`) is shown, else the first. `also_in_transaction(conn, conversation_id)` runs
        in the same transaction (a greeting test records which greeting the conversation got)."""

        def insert(conn: sqlite3.Connection) -> Conversation:
            conversation_id, now = new_id(), utcnow()
            conn.execute(
                "insert into conversations (id, user_id, character_id, persona_id, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?)",
                (conversation_id, user_id, character_id, persona_id, now, now),
            )
            first = shown = None
            kept = [(n, g) for n, g in enumerate(greetings) if g.strip()]
            for index, (original, greeting) in enumerate(kept):
                # Distinct timestamps keep the swipe order stable: the card's first_mes comes first.
                message_id = _insert_message(
                    conn,
                    conversation_id=conversation_id,
                    parent_id=None,
                    role="assistant",
                    content=greeting,
                    now=_plus_ms(now, index),
                    speaker=Speaker(character_id=character_id),
                )
                first = first or message_id
                shown = message_id if original == shown_greeting else shown
            if first is not None:
                _set_leaf(conn, conversation_id, shown or first)
            if also_in_transaction is not None:
                also_in_transaction(conn, conversation_id)
            return _read_conversation(conn, conversation_id)

        return await self.db.write(insert)

    async def create_group(
        self,
        *,
        user_id: str,
        character_ids: Sequence[str],
        greetings: Sequence[tuple[str, str]],
        group: GroupSettings,
        title: str = "",
        persona_id: str | None = None,
    ) -> Conversation:
        """A new group chat with these characters (in list order). `greetings`: (character id, text) of
        the members who greet, one after the other at the start of the chat."""

        def insert(conn: sqlite3.Connection) -> Conversation:
            conversation_id, now = new_id(), utcnow()
            conn.execute(
                "insert into conversations (id, user_id, character_id, persona_id, title, created_at, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, user_id, character_ids[0], persona_id, title, now, now),
            )
            insert_cast(conn, conversation_id, character_ids, group)
            parent = None
            for index, (character_id, text) in enumerate(greetings):
                parent = _insert_message(
                    conn,
                    conversation_id=conversation_id,
                    parent_id=parent,
                    role="assistant",
                    content=text,
                    now=_plus_ms(now, index),
                    speaker=Speaker(character_id=character_id),
                )
            if parent is not None:
                _set_leaf(conn, conversation_id, parent)
            return _read_conversation(conn, conversation_id)

        return await self.db.write(insert)

    async def get(self, conversation_id: str) -> Conversation | None:
        row = await self.db.fetchone(CONVERSATION_SELECT + " where v.id = ?", (conversation_id,))
        return conversation_from_row(row) if row else None

    async def list_for_user(
        self, user_id: str, *, character_id: str | None = None, archived: bool | None = None
    ) -> list[Conversation]:
        # The user's own conversations and the rooms they were invited into.
        sql = CONVERSATION_SELECT + (
            " where (v.user_id = ? or v.id in (select conversation_id from conversation_people where user_id = ?))"
        )
        params: list[Any] = [user_id, user_id]
        if character_id:
            sql += " and v.character_id = ?"
            params.append(character_id)
        if archived is not None:
            sql += " and v.is_archived = ?"
            params.append(int(archived))
        rows = await self.db.fetchall(sql + " order by v.updated_at desc", params)
        return [conversation_from_row(row) for row in rows]

    async def recently_active(self, since: str, *, limit: int) -> list[tuple[str, str]]:
        """`(conversation id, owner id)` of the unarchived conversations with a message since `since`, the
        latest first."""
        rows = await self.db.fetchall(
            "select id, user_id from conversations where last_message_at >= ? and not is_archived"
            " order by last_message_at desc limit ?",
            (since, limit),
        )
        return [(row["id"], row["user_id"]) for row in rows]

    async def update(self, conversation_id: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        values = {key: to_json(value) if key == "settings" else value for key, value in fields.items()}
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        await self.db.execute_write(
            f"update conversations set {assignments}, updated_at = :updated_at where id = :id",
            {**values, "updated_at": utcnow(), "id": conversation_id},
        )

    async def delete(self, conversation_id: str) -> None:
        await self.db.execute_write("delete from conversations where id = ?", (conversation_id,))

    async def family(self, conversation_id: str) -> list[Conversation]:
        """Every conversation connected to this one by branching, root first."""
        rows = await self.db.fetchall(
            """
            with recursive up(id, parent) as (
                select id, branched_from_id from conversations where id = :id
                union all
                select c.id, c.branched_from_id from conversations c join up on c.id = up.parent
            ),
            root(id) as (select id from up where parent is null limit 1),
            down(id) as (
                select id from root
                union all
                select c.id from conversations c join down on c.branched_from_id = down.id
            )
            """
            + CONVERSATION_SELECT
            + " where v.id in (select id from down) order by v.created_at",
            {"id": conversation_id},
        )
        return [conversation_from_row(row) for row in rows]

    # -- the message tree ----------------------------------------------------------------------

    async def active_path(
        self, conversation_id: str, *, limit: int | None = None, before: str | None = None
    ) -> tuple[list[Message], bool] | None:
        """The active path, oldest first, and whether older messages exist before the first one.

        With `before`, the page ends just before that message; None if it is not on the path.
        """

        def read(conn: sqlite3.Connection) -> tuple[list[Message], bool] | None:
            params: dict[str, Any] = {"conversation_id": conversation_id}
            where = ""
            if before is not None:
                params["before"] = before
                found = conn.execute(PATH_CTE + " select depth from path where id = :before", params).fetchone()
                if found is None:
                    return None
                where = " where path.depth > :before_depth"
                params["before_depth"] = found[0]
            sql = PATH_CTE + f" select {MESSAGE_COLUMNS} from path join messages m on m.id = path.id{where}"
            sql += " order by path.depth asc"
            if limit is not None:
                sql += " limit :limit"
                params["limit"] = limit + 1  # one extra row tells whether more exist
            rows = conn.execute(sql, params).fetchall()
            has_more = limit is not None and len(rows) > limit
            messages = [message_from_row(row) for row in rows[:limit] if row is not None]
            messages.reverse()
            return messages, has_more

        return await self.db.read(read)

    async def path(self, conversation_id: str) -> list[Message]:
        result = await self.active_path(conversation_id)
        return result[0] if result else []

    async def path_to(self, message_id: str) -> list[Message]:
        """The messages from the root down to `message_id` (inclusive), whatever the active path is."""
        rows = await self.db.fetchall(
            f"""
            with recursive up(id, depth) as (
                select :id, 0
                union all
                select m.parent_id, up.depth + 1 from messages m join up on m.id = up.id where m.parent_id is not null
            )
            select {MESSAGE_COLUMNS} from up join messages m on m.id = up.id order by up.depth desc
            """,
            {"id": message_id},
        )
        return [message_from_row(row) for row in rows]

    async def get_message(self, message_id: str) -> Message | None:
        row = await self.db.fetchone(f"select {MESSAGE_COLUMNS} from messages m where m.id = ?", (message_id,))
        return message_from_row(row) if row else None

    async def greeting_index(self, message: Message) -> int | None:
        """Which greeting a path's first message is: 0 the card's first message, 1... its alternate greetings
        (they are its siblings, in creation order). None for any other message."""
        if message.parent_id is not None:
            return None
        ids = [m.id for m in await self.siblings(message)]
        return ids.index(message.id) if message.id in ids else None

    async def siblings(self, message: Message) -> list[Message]:
        rows = await self.db.fetchall(
            f"select {MESSAGE_COLUMNS} from messages m where m.conversation_id = ? and m.parent_id is ?"
            " order by m.created_at, m.rowid",
            (message.conversation_id, message.parent_id),
        )
        return [message_from_row(row) for row in rows]

    async def all_messages(self, conversation_id: str) -> list[Message]:
        """The whole tree, in creation order (parents before children)."""
        rows = await self.db.fetchall(
            f"select {MESSAGE_COLUMNS} from messages m where m.conversation_id = ? order by m.created_at, m.rowid",
            (conversation_id,),
        )
        return [message_from_row(row) for row in rows]

    async def select(self, conversation_id: str, message_id: str) -> str:
        """Show the branch through `message_id`: the active leaf becomes its newest descendant."""

        def choose(conn: sqlite3.Connection) -> str:
            leaf = conn.execute(NEWEST_LEAF, {"message_id": message_id}).fetchone()[0]
            _set_leaf(conn, conversation_id, leaf)
            return str(leaf)

        return await self.db.write(choose)

    async def append(
        self,
        *,
        conversation_id: str,
        parent_id: str | None,
        role: str,
        content: str,
        message_id: str | None = None,
        model_used: str | None = None,
        tokens_used: int | None = None,
        status: str = "complete",
        is_regeneration: bool = False,
        metadata: dict[str, Any] | None = None,
        speaker: Speaker | None = None,
        ooc: bool = False,
        chain: bool = False,
    ) -> Message:
        """Add a message under `parent_id` and make it the conversation's active leaf. `chain`: under the
        active leaf as it is when the message is written instead (in a shared room, someone else's message
        may have landed since `parent_id` was read)."""

        def insert(conn: sqlite3.Connection) -> Message:
            parent = parent_id
            if chain:
                leaf = conn.execute("select active_leaf_id from conversations where id = ?", (conversation_id,))
                parent = leaf.fetchone()[0] or parent_id
            inserted = _insert_message(
                conn,
                conversation_id=conversation_id,
                parent_id=parent,
                role=role,
                content=content,
                now=utcnow(),
                message_id=message_id,
                model_used=model_used,
                tokens_used=tokens_used,
                status=status,
                is_regeneration=is_regeneration,
                metadata=metadata,
                speaker=speaker,
                ooc=ooc,
            )
            _set_leaf(conn, conversation_id, inserted)
            if role == "user" and not ooc:  # the first thing the user says names the conversation
                conn.execute(
                    "update conversations set title = ? where id = ? and title = ''",
                    (title_from(content), conversation_id),
                )
            return _read_message(conn, inserted)

        return await self.db.write(insert)

    async def set_content(
        self,
        message_id: str,
        content: str,
        *,
        edited: bool,
        status: str | None = None,
        tokens_used: int | None = None,
        model_used: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Replace a message's text; `metadata` keys given are set, the others kept."""

        def update(conn: sqlite3.Connection) -> Message:
            now = utcnow()
            conn.execute(
                "update messages set content = ?, edited_at = case when ? then ? else edited_at end,"
                " status = coalesce(?, status), tokens_used = coalesce(?, tokens_used),"
                " model_used = coalesce(?, model_used), metadata = json_patch(metadata, ?) where id = ?",
                (content, edited, now, status, tokens_used, model_used, to_json(metadata or {}), message_id),
            )
            conn.execute(
                "update conversations set updated_at = ?"
                " where id = (select conversation_id from messages where id = ?)",
                (now, message_id),
            )
            return _read_message(conn, message_id)

        return await self.db.write(update)

    async def delete_message(self, message: Message) -> str | None:
        """Delete a message and everything after it in the tree; returns the new active leaf.

        The path falls back to the newest remaining sibling (swipe), else to the parent.
        """

        def remove(conn: sqlite3.Connection) -> str | None:
            leaf: str | None = None
            sibling = conn.execute(
                "select id from messages where conversation_id = ? and parent_id is ? and id != ?"
                " order by created_at desc, rowid desc limit 1",
                (message.conversation_id, message.parent_id, message.id),
            ).fetchone()
            conn.execute("delete from messages where id = ?", (message.id,))  # children cascade
            if sibling is not None:
                leaf = conn.execute(NEWEST_LEAF, {"message_id": sibling[0]}).fetchone()[0]
            elif message.parent_id is not None:
                leaf = message.parent_id
            active = conn.execute(
                "select active_leaf_id from conversations where id = ?", (message.conversation_id,)
            ).fetchone()[0]
            still_there = active and conn.execute("select 1 from messages where id = ?", (active,)).fetchone()
            if not still_there:
                _set_leaf(conn, message.conversation_id, leaf)
            else:
                leaf = active
            conn.execute(
                "update conversations set message_count = (select count(*) from messages where conversation_id = ?)"
                " where id = ?",
                (message.conversation_id, message.conversation_id),
            )
            return leaf

        return await self.db.write(remove)

    async def branch(self, source: Conversation, path: Sequence[Message], *, title: str) -> Conversation:
        """A new conversation whose history is a copy of `path` (root first); it continues on its own."""
        copies = [
            ImportedMessage(
                key=message.id,
                parent_key=path[i - 1].id if i else None,
                role=message.role,
                content=message.content,
                created_at=message.created_at,
                model_used=message.model_used,
                tokens_used=message.tokens_used,
                status=message.status,
                edited_at=message.edited_at,
                character_id=message.character_id,
                user_id=message.user_id,
                speaker_name=message.speaker_name,
                ooc=message.ooc,
            )
            for i, message in enumerate(path)
        ]
        columns = {
            "user_id": source.user_id,
            "character_id": source.character_id,
            "persona_id": source.persona_id,
            "title": title,
            "settings": to_json(source.settings),
            "branched_from_id": source.id,
            "branched_from_message_id": path[-1].id,
        }

        def insert(conn: sqlite3.Connection) -> Conversation:
            branch = _insert_tree(conn, columns, copies, path[-1].id)
            copy_cast(conn, source.id, branch.id)  # a group's branch is a group with the same cast (no people)
            return _read_conversation(conn, branch.id)

        return await self.db.write(insert)

    async def import_tree(
        self,
        *,
        user_id: str,
        character_id: str,
        title: str,
        messages: Sequence[ImportedMessage],
        leaf_key: str | None,
        persona_id: str | None = None,
        created_at: str | None = None,
        metadata: dict[str, Any] | None = None,
        cast: Sequence[str] = (),
        group: GroupSettings | None = None,
    ) -> Conversation:
        """Store an imported conversation in one transaction: all of it, or nothing. It is as recent as its
        last message, so an old chat does not jump to the top of the list. With `cast` (character ids, the
        first being `character_id`), it is a group chat with those members and `group` settings."""
        columns = {
            "user_id": user_id,
            "character_id": character_id,
            "persona_id": persona_id,
            "title": title,
            "metadata": to_json(metadata or {}),
        }
        if created_at:
            columns["created_at"] = created_at

        def insert(conn: sqlite3.Connection) -> Conversation:
            conversation = _insert_tree(conn, columns, messages, leaf_key)
            if cast:
                insert_cast(conn, conversation.id, cast, group or GroupSettings())
            conn.execute(
                "update conversations set updated_at = coalesce(last_message_at, updated_at) where id = ?",
                (conversation.id,),
            )
            return _read_conversation(conn, conversation.id)

        return await self.db.write(insert)

    async def conversation_metadata(self, conversation_id: str) -> dict[str, Any]:
        return from_json(
            await self.db.fetchval("select metadata from conversations where id = ?", (conversation_id,)), {}
        )

    async def imported_from(self, user_id: str, file_digest: str) -> str | None:
        """The id of a conversation of the user's imported from a file with this digest, if any."""
        return await self.db.fetchval(
            "select id from conversations where user_id = ? and json_extract(metadata, '$.imported_file') = ? limit 1",
            (user_id, file_digest),
        )

    async def active_leaf(self, conversation_id: str) -> str | None:
        return await self.db.fetchval("select active_leaf_id from conversations where id = ?", (conversation_id,))

    async def search(self, user_id: str, text: str, *, limit: int = 50) -> list[SearchHit]:
        query = fts_query(text)
        if query is None:
            return []
        rows = await self.db.fetchall(
            """
            select m.id as message_id, m.conversation_id, v.title as conversation_title, c.name as character_name,
                   m.role, snippet(messages_fts, 0, '[', ']', '…', 12) as snippet, m.created_at
            from messages_fts
            join messages m on m.rowid = messages_fts.rowid
            join conversations v on v.id = m.conversation_id
            join characters c on c.id = v.character_id
            where messages_fts match :query and v.user_id = :user_id
            order by bm25(messages_fts), m.created_at desc
            limit :limit
            """,
            {"query": query, "user_id": user_id, "limit": limit},
        )
        return [msgspec.convert(row, SearchHit) for row in rows]


def _plus_ms(timestamp: str, milliseconds: int) -> str:
    if not milliseconds:
        return timestamp
    from datetime import datetime, timedelta

    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(milliseconds=milliseconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _insert_tree(
    conn: sqlite3.Connection,
    columns: dict[str, Any],
    messages: Sequence[ImportedMessage],
    leaf_key: str | None,
) -> Conversation:
    """A new conversation (`columns` of the conversations table) holding `messages`, parents before
    children; `leaf_key` names the message the active path ends at."""
    conversation_id, now = new_id(), utcnow()
    row = {"id": conversation_id, "created_at": now, "updated_at": now, **columns}
    conn.execute(
        f"insert into conversations ({', '.join(row)}) values ({', '.join('?' * len(row))})", tuple(row.values())
    )
    ids: dict[str, str] = {}
    for message in messages:
        ids[message.key] = _insert_message(
            conn,
            conversation_id=conversation_id,
            parent_id=ids[message.parent_key] if message.parent_key is not None else None,
            role=message.role,
            content=message.content,
            now=message.created_at,
            model_used=message.model_used,
            tokens_used=message.tokens_used,
            status=message.status,
            is_regeneration=message.is_regeneration,
            edited_at=message.edited_at,
            metadata=message.metadata,
            speaker=Speaker(character_id=message.character_id, user_id=message.user_id, name=message.speaker_name),
            ooc=message.ooc,
        )
    _set_leaf(conn, conversation_id, ids.get(leaf_key) if leaf_key else None)
    return _read_conversation(conn, conversation_id)


def _set_leaf(conn: sqlite3.Connection, conversation_id: str, leaf_id: str | None) -> None:
    conn.execute(
        "update conversations set active_leaf_id = ?, updated_at = ? where id = ?", (leaf_id, utcnow(), conversation_id)
    )


def _read_conversation(conn: sqlite3.Connection, conversation_id: str) -> Conversation:
    return conversation_from_row(conn.execute(CONVERSATION_SELECT + " where v.id = ?", (conversation_id,)).fetchone())


def _read_message(conn: sqlite3.Connection, message_id: str) -> Message:
    return message_from_row(
        conn.execute(f"select {MESSAGE_COLUMNS} from messages m where m.id = ?", (message_id,)).fetchone()
    )


def _insert_message(
    conn: sqlite3.Connection,
    *,
    conversation_id: str,
    parent_id: str | None,
    role: str,
    content: str,
    now: str,
    message_id: str | None = None,
    model_used: str | None = None,
    tokens_used: int | None = None,
    status: str = "complete",
    is_regeneration: bool = False,
    edited_at: str | None = None,
    metadata: dict[str, Any] | None = None,
    speaker: Speaker | None = None,
    ooc: bool = False,
) -> str:
    message_id = message_id or new_id()
    speaker = speaker or Speaker()
    conn.execute(
        "insert into messages (id, conversation_id, parent_id, role, content, model_used, tokens_used, status,"
        " is_regeneration, metadata, created_at, edited_at, character_id, user_id, speaker_name, ooc)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message_id,
            conversation_id,
            parent_id,
            role,
            content,
            model_used,
            tokens_used,
            status,
            int(is_regeneration),
            to_json(metadata or {}),
            now,
            edited_at,
            speaker.character_id,
            speaker.user_id,
            speaker.name,
            int(ooc),
        ),
    )
    conn.execute(
        "update conversations set message_count = message_count + 1,"
        " last_message_at = max(coalesce(last_message_at, ''), ?) where id = ?",
        (now, conversation_id),
    )
    return message_id
