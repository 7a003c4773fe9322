"""SQL for group chats and shared rooms: a conversation's cast and group settings, the people invited in,
and their invitations. (The conversations and their messages are `store.ConversationStore`'s.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.chat.schemas import GroupSettings, MemberChange
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, to_json, utcnow


def insert_cast(
    conn: sqlite3.Connection, conversation_id: str, character_ids: Sequence[str], group: GroupSettings
) -> None:
    """Make a conversation a group chat with these characters, in this order (in its transaction)."""
    now = utcnow()
    conn.executemany(
        "insert into conversation_characters (conversation_id, character_id, position, added_at) values (?, ?, ?, ?)",
        [(conversation_id, character_id, position, now) for position, character_id in enumerate(character_ids)],
    )
    conn.execute(
        "update conversations set group_settings = ?, character_id = ? where id = ?",
        (to_json(group), character_ids[0], conversation_id),
    )


def copy_cast(conn: sqlite3.Connection, source_id: str, target_id: str) -> None:
    """A branch of a group chat is a group chat with the same cast and settings."""
    conn.execute(
        """insert into conversation_characters
             (conversation_id, character_id, position, is_muted, talkativeness, added_at)
           select ?, character_id, position, is_muted, talkativeness, added_at from conversation_characters
           where conversation_id = ?""",
        (target_id, source_id),
    )
    conn.execute(
        "update conversations set group_settings = (select group_settings from conversations where id = ?)"
        " where id = ?",
        (source_id, target_id),
    )


class InviteRow(msgspec.Struct, kw_only=True):
    id: str
    conversation_id: str
    created_by: str
    invitee_id: str | None
    created_at: str
    expires_at: str
    revoked_at: str | None
    uses: int
    invitee_name: str | None = None


class PersonRow(msgspec.Struct, kw_only=True):
    user_id: str
    display_name: str
    persona_id: str | None
    role: str
    joined_at: str


class RoomStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the cast ------------------------------------------------------------------------------------

    async def set_cast(self, conversation_id: str, members: Sequence[MemberChange]) -> tuple[list[str], list[str]]:
        """The group's cast becomes `members`, in order; returns (ids that joined, ids that left)."""

        def write(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
            before = [
                row[0]
                for row in conn.execute(
                    "select character_id from conversation_characters where conversation_id = ? order by position",
                    (conversation_id,),
                )
            ]
            wanted = [m.character_id for m in members]
            left = [cid for cid in before if cid not in wanted]
            joined = [cid for cid in wanted if cid not in before]
            now = utcnow()
            conn.executemany(
                "delete from conversation_characters where conversation_id = ? and character_id = ?",
                [(conversation_id, cid) for cid in left],
            )
            for position, member in enumerate(members):
                conn.execute(
                    """insert into conversation_characters
                         (conversation_id, character_id, position, is_muted, talkativeness, added_at)
                       values (?, ?, ?, ?, ?, ?)
                       on conflict (conversation_id, character_id) do update set
                         position = excluded.position, is_muted = excluded.is_muted,
                         talkativeness = excluded.talkativeness""",
                    (conversation_id, member.character_id, position, int(member.muted), member.talkativeness, now),
                )
            conn.execute("update conversations set character_id = ? where id = ?", (wanted[0], conversation_id))
            return joined, left

        return await self.db.write(write)

    async def set_group(self, conversation_id: str, group: GroupSettings) -> None:
        await self.db.execute_write(
            "update conversations set group_settings = ? where id = ?", (to_json(group), conversation_id)
        )

    # -- people --------------------------------------------------------------------------------------

    async def is_member(self, conversation_id: str, user_id: str) -> bool:
        """Invited into the room (the owner is not a member: they own it)."""
        found = await self.db.fetchval(
            "select 1 from conversation_people where conversation_id = ? and user_id = ?", (conversation_id, user_id)
        )
        return found is not None

    async def people(self, conversation_id: str) -> list[PersonRow]:
        """The owner first, then the members in the order they joined."""
        rows = await self.db.fetchall(
            """select u.id as user_id, u.display_name, v.persona_id, 'owner' as role, v.created_at as joined_at
               from conversations v join users u on u.id = v.user_id where v.id = :id
               union all
               select u.id, u.display_name, p.persona_id, 'member', p.joined_at
               from conversation_people p join users u on u.id = p.user_id where p.conversation_id = :id
               order by 4 desc, 5""",
            {"id": conversation_id},
        )
        return [msgspec.convert(row, PersonRow) for row in rows]

    async def member_persona(self, conversation_id: str, user_id: str) -> str | None:
        return await self.db.fetchval(
            "select persona_id from conversation_people where conversation_id = ? and user_id = ?",
            (conversation_id, user_id),
        )

    async def set_member_persona(self, conversation_id: str, user_id: str, persona_id: str | None) -> None:
        await self.db.execute_write(
            "update conversation_people set persona_id = ? where conversation_id = ? and user_id = ?",
            (persona_id, conversation_id, user_id),
        )

    async def remove_person(self, conversation_id: str, user_id: str) -> bool:
        removed = await self.db.execute_write(
            "delete from conversation_people where conversation_id = ? and user_id = ?", (conversation_id, user_id)
        )
        return removed > 0

    async def user_by_email(self, email: str) -> tuple[str, str] | None:
        """(id, display name) of the active account with this email (the users capability owns the table)."""
        row = await self.db.fetchone(
            "select id, display_name from users where email = ? and is_active = 1", (email.strip(),)
        )
        return (row["id"], row["display_name"]) if row else None

    # -- invitations -----------------------------------------------------------------------------------

    async def create_invite(
        self, *, conversation_id: str, token_hash: str, created_by: str, invitee_id: str | None, expires_at: str
    ) -> InviteRow:
        invite_id, now = new_id(), utcnow()
        await self.db.execute_write(
            """insert into conversation_invites (id, conversation_id, token_hash, created_by, invitee_id, created_at,
                 expires_at) values (?, ?, ?, ?, ?, ?, ?)""",
            (invite_id, conversation_id, token_hash, created_by, invitee_id, now, expires_at),
        )
        return InviteRow(
            id=invite_id,
            conversation_id=conversation_id,
            created_by=created_by,
            invitee_id=invitee_id,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            uses=0,
        )

    async def invites(self, conversation_id: str) -> list[InviteRow]:
        rows = await self.db.fetchall(
            f"{INVITE_SELECT} where i.conversation_id = ? order by i.created_at desc", (conversation_id,)
        )
        return [msgspec.convert(row, InviteRow) for row in rows]

    async def invite(self, *, invite_id: str | None = None, token_hash: str | None = None) -> InviteRow | None:
        column, value = ("i.id", invite_id) if invite_id is not None else ("i.token_hash", token_hash)
        row = await self.db.fetchone(f"{INVITE_SELECT} where {column} = ?", (value,))
        return msgspec.convert(row, InviteRow) if row else None

    async def revoke(self, invite_id: str) -> None:
        await self.db.execute_write(
            "update conversation_invites set revoked_at = coalesce(revoked_at, ?) where id = ?", (utcnow(), invite_id)
        )

    async def accept(self, invite: InviteRow, user_id: str, persona_id: str | None) -> bool:
        """Add `user_id` to the invite's room (if not in it yet) and count the use; an invitation to one
        account is used up. False if the invite was revoked or expired meanwhile."""
        now = utcnow()

        def write(conn: sqlite3.Connection) -> bool:
            live = conn.execute(
                "select 1 from conversation_invites where id = ? and revoked_at is null and expires_at > ?",
                (invite.id, now),
            ).fetchone()
            if live is None:
                return False
            conn.execute(
                """insert into conversation_people (conversation_id, user_id, persona_id, joined_at) values (?, ?, ?, ?)
                   on conflict (conversation_id, user_id) do nothing""",
                (invite.conversation_id, user_id, persona_id, now),
            )
            conn.execute(
                "update conversation_invites set uses = uses + 1,"
                " revoked_at = case when invitee_id is not null then ? else revoked_at end where id = ?",
                (now, invite.id),
            )
            return True

        return await self.db.write(write)

    async def pending_for(self, user_id: str) -> list[dict[str, Any]]:
        """Live invitations addressed to this account, newest first, with the room's title and the inviter."""
        return await self.db.fetchall(
            """select i.id, i.conversation_id, coalesce(nullif(v.title, ''), c.name) as title,
                      u.display_name as inviter_name, i.expires_at
               from conversation_invites i join conversations v on v.id = i.conversation_id
               join characters c on c.id = v.character_id join users u on u.id = i.created_by
               where i.invitee_id = ? and i.revoked_at is null and i.expires_at > ?
               order by i.created_at desc""",
            (user_id, utcnow()),
        )


INVITE_SELECT = """
    select i.id, i.conversation_id, i.created_by, i.invitee_id, i.created_at, i.expires_at, i.revoked_at, i.uses,
           u.display_name as invitee_name
    from conversation_invites i left join users u on u.id = i.invitee_id
"""
