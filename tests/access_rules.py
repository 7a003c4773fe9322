"""The access rule of every route: what anonymous visitors, other users, the owner and admins get.

tests/test_authz_matrix.py checks each entry against the app (and fails for any route missing here).
`python -m tests.access_rules` prints the table for the closing note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar.testing import TestClient

from tests.helpers import PASSWORD

IDENTITIES = ("anonymous", "other", "owner", "admin")
Status = int | tuple[int, ...]


@dataclass(frozen=True)
class Rule:
    text: str
    anonymous: Status
    other: Status
    owner: Status
    admin: Status

    def expected(self, identity: str) -> tuple[int, ...]:
        status = getattr(self, identity)
        return status if isinstance(status, tuple) else (status,)


def anyone(status: Status = 200, text: str = "anyone") -> Rule:
    return Rule(text, status, status, status, status)


def signed_in(status: Status = 200, *, admin: Status | None = None, text: str = "") -> Rule:
    return Rule(
        text or "signed in (401 otherwise); acts on the caller's own account",
        401,
        status,
        status,
        status if admin is None else admin,
    )


def owner_only(status: Status = 200, *, anonymous: Status = 401, text: str = "") -> Rule:
    return Rule(
        text or "the owner only; anyone else, admins included, gets 404 (anonymous: 401)",
        anonymous,
        404,
        status,
        404,
    )


def admins(status: Status = 200) -> Rule:
    return Rule("admins only (403 for users, 401 anonymous)", 401, 403, 403, status)


@dataclass(frozen=True)
class Case:
    rule: Rule
    path: str  # with {placeholders} for the owner's objects
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


C = Case
PRIVATE_CHARACTER = "the owner's private character"
# Pages with a signed-in visitor redirect away from the sign-in forms.
SIGN_IN_FORM = anyone((200, 302), text="anyone (signed-in visitors are redirected)")

HTMX = {"hx-request": "true"}
READ = "the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"
CONVERSATION = "/api/v1/conversations/{conversation}"
MESSAGE = "/api/v1/conversations/{conversation}/messages"
PAGE = "/chats/{conversation}"
ST_CHAT = b'{"user_name": "U", "character_name": "C"}\n{"name": "U", "is_user": true, "mes": "hello"}\n'

# The chat engine (issue 5): the owner's conversation, its messages, its pages.
CHAT_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/conversations/search"): C(
        signed_in(text="signed in; searches the caller's own messages only"), "/api/v1/conversations/search?q=hello"
    ),
    ("POST", "/api/v1/conversations/import"): C(
        signed_in(201, text="signed in; with a character the caller may see"),
        "/api/v1/conversations/import",
        form={"character_id": "{public_character}"},
        files={"file": ("chat.jsonl", ST_CHAT, "application/jsonl")},
    ),
    ("PATCH", "/api/v1/conversations/{conversation_id:str}"): C(owner_only(), CONVERSATION, json={"title": "mine"}),
    ("GET", "/api/v1/conversations/{conversation_id:str}/branches"): C(
        owner_only(text=READ), f"{CONVERSATION}/branches"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/branch"): C(
        owner_only(201), f"{CONVERSATION}/branch", json={"message_id": "{reply}"}
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/export"): C(
        owner_only(text=READ), f"{CONVERSATION}/export?format=json"
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/prompt"): C(owner_only(), f"{CONVERSATION}/prompt?content=hi"),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}"): C(
        owner_only(text=READ), f"{MESSAGE}/{{reply}}"
    ),
    ("PATCH", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}"): C(
        owner_only(), f"{MESSAGE}/{{reply}}", json={"content": "edited"}
    ),
    ("DELETE", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}"): C(
        owner_only(), f"{MESSAGE}/{{reply}}"
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/siblings"): C(
        owner_only(text=READ), f"{MESSAGE}/{{reply}}/siblings"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/select"): C(
        owner_only(), f"{MESSAGE}/{{reply}}/select"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/swipe"): C(
        owner_only(), f"{MESSAGE}/{{second_reply}}/swipe?direction=left"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/regenerate"): C(
        owner_only(201), f"{MESSAGE}/{{second_reply}}/regenerate"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/continue"): C(
        owner_only(), f"{MESSAGE}/{{second_reply}}/continue"
    ),
    ("GET", "/chats/search"): C(
        signed_in(text="signed in; searches the caller's own messages only"), "/chats/search?q=hi"
    ),
    ("POST", "/chats/import"): C(
        signed_in(303, text="signed in; with a character the caller may see"),
        "/chats/import",
        form={"character_id": "{public_character}"},
        files={"file": ("chat.jsonl", ST_CHAT, "application/jsonl")},
    ),
    ("GET", "/chats/{conversation_id:str}/events"): C(owner_only(text=READ), f"{PAGE}/events?snapshot=true"),
    ("GET", "/chats/{conversation_id:str}/earlier"): C(
        owner_only(text=READ), f"{PAGE}/earlier?before={{second_reply}}"
    ),
    ("GET", "/chats/{conversation_id:str}/prompt"): C(owner_only(), f"{PAGE}/prompt"),
    ("PATCH", "/chats/{conversation_id:str}/settings"): C(
        owner_only(204), f"{PAGE}/settings", form={"title": "mine"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/archive"): C(owner_only(303), f"{PAGE}/archive", form={}),
    ("POST", "/chats/{conversation_id:str}/typing"): C(owner_only(204), f"{PAGE}/typing", form={}, headers=HTMX),
    ("GET", "/chats/{conversation_id:str}/messages/{message_id:str}/edit"): C(
        owner_only(), f"{PAGE}/messages/{{reply}}/edit"
    ),
    ("GET", "/chats/{conversation_id:str}/messages/{message_id:str}/content"): C(
        owner_only(), f"{PAGE}/messages/{{reply}}/content"
    ),
    ("PATCH", "/chats/{conversation_id:str}/messages/{message_id:str}"): C(
        owner_only(204), f"{PAGE}/messages/{{reply}}", form={"content": "edited"}, headers=HTMX
    ),
    ("DELETE", "/chats/{conversation_id:str}/messages/{message_id:str}"): C(
        owner_only(204), f"{PAGE}/messages/{{reply}}", headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/messages/{message_id:str}/swipe"): C(
        owner_only(204), f"{PAGE}/messages/{{second_reply}}/swipe?direction=left", form={}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/messages/{message_id:str}/regenerate"): C(
        owner_only(204), f"{PAGE}/messages/{{second_reply}}/regenerate", form={}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/messages/{message_id:str}/continue"): C(
        owner_only(204), f"{PAGE}/messages/{{second_reply}}/continue", form={}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/messages/{message_id:str}/branch"): C(
        owner_only(204), f"{PAGE}/messages/{{reply}}/branch", form={}, headers=HTMX
    ),
}


ROOM = "/api/v1/conversations/{room}"
ROOM_PAGE = "/chats/{room}"
MEMBERS = "the owner and the people invited in (404 for others; admins only with [privacy] admin_can_read_chats)"
NO_INVITE = "signed in, holding a live invitation (here a forged one: 404 for everyone)"

# Group chats and shared rooms (issue 13). `{room}` is the owner's group chat with two characters, into
# which `{guest_id}` was invited (a member: tests/test_rooms.py checks what members may do).
ROOM_RULES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/conversations/{conversation_id:str}/trigger"): C(
        owner_only(201, text="the owner and the people invited in; a member of the cast speaks"),
        f"{CONVERSATION}/trigger",
        json={"character_id": "{public_character}"},
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/people"): C(owner_only(text=MEMBERS), f"{ROOM}/people"),
    ("PATCH", "/api/v1/conversations/{conversation_id:str}/people/{user_id:str}"): C(
        owner_only(text="each person, their own persona in the room (403 for someone else's; 404 outside)"),
        f"{ROOM}/people/{{owner_id}}",
        json={"persona_id": ""},
    ),
    ("DELETE", "/api/v1/conversations/{conversation_id:str}/people/{user_id:str}"): C(
        owner_only(204, text="the owner removes anyone, a member themself; anyone else gets 404"),
        f"{ROOM}/people/{{guest_id}}",
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/invites"): C(owner_only(201), f"{ROOM}/invites", json={}),
    ("GET", "/api/v1/conversations/{conversation_id:str}/invites"): C(owner_only(), f"{ROOM}/invites"),
    ("DELETE", "/api/v1/conversations/{conversation_id:str}/invites/{invite_id:str}"): C(
        owner_only(204), f"{ROOM}/invites/{{invite}}"
    ),
    ("GET", "/api/v1/invites"): C(signed_in(text="signed in; invitations addressed to the caller"), "/api/v1/invites"),
    ("POST", "/api/v1/invites/{token:str}/accept"): C(
        Rule(NO_INVITE, 401, 404, 404, 404), "/api/v1/invites/forged-token/accept", json={}
    ),
    ("DELETE", "/api/v1/invites/{invite_id:str}"): C(
        Rule("the invitee only (others, and here a missing invitation: 404)", 401, 404, 404, 404),
        "/api/v1/invites/{invite}",
    ),
    ("GET", "/invites/{token:str}"): C(Rule(NO_INVITE, 401, 404, 404, 404), "/invites/forged-token"),
    ("POST", "/invites/{token:str}/accept"): C(
        Rule(NO_INVITE, 401, 404, 404, 404), "/invites/forged-token/accept", form={}
    ),
    ("POST", "/invites/{invite_id:str}/decline"): C(
        Rule("the invitee only (others, and here a link invitation: 404)", 401, 404, 404, 404),
        "/invites/{invite}/decline",
        form={},
    ),
    ("POST", "/chats/group"): C(
        signed_in(303, text="signed in; with characters the caller may see"),
        "/chats/group",
        form={"character_ids": "{public_character}"},
    ),
    ("POST", "/chats/{conversation_id:str}/group"): C(
        owner_only(204), f"{ROOM_PAGE}/group", form={"strategy": "list", "card_mode": "join"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/members"): C(
        owner_only(204),
        f"{ROOM_PAGE}/members",
        form={"character_id": "{second_character}", "muted": "on"},
        headers=HTMX,
    ),
    ("POST", "/chats/{conversation_id:str}/invites"): C(owner_only(), f"{ROOM_PAGE}/invites", form={}, headers=HTMX),
    ("POST", "/chats/{conversation_id:str}/people/{person_id:str}/remove"): C(
        owner_only(204, text="the owner removes anyone, a member themself; anyone else gets 404"),
        f"{ROOM_PAGE}/people/{{guest_id}}/remove",
        form={},
        headers=HTMX,
    ),
    ("POST", "/chats/{conversation_id:str}/persona"): C(
        owner_only(204, text="the owner and the people invited in: the persona they speak as there"),
        f"{PAGE}/persona",
        form={"persona_id": "{persona}"},
        headers=HTMX,
    ),
    ("POST", "/chats/{conversation_id:str}/trigger"): C(
        owner_only(204, text="the owner and the people invited in"),
        f"{PAGE}/trigger",
        form={"character_id": "{public_character}"},
        headers=HTMX,
    ),
}


def _tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\x10\x20\x30")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


CARD = ("card.json", b'{"name": "Imported"}', "application/json")
NO_PICTURE = {"avatar": ("", b"", "application/octet-stream")}  # the builder form as browsers send it
CHARACTER = "/api/v1/characters/{private_character}"
VISIBLE = "public ones: anyone within their content tier; private: the creator only (404)"
LOREBOOK = "/api/v1/lorebooks/{lorebook}"

# Characters, discovery and cards (issue 4).
CHARACTER_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/characters/trending"): C(
        anyone(text="anyone; public characters within the viewer's content tiers"), "/api/v1/characters/trending"
    ),
    ("GET", "/api/v1/characters/search"): C(
        anyone(text="anyone; public characters (+ own) within the viewer's content tiers"),
        "/api/v1/characters/search?q=secret",
    ),
    ("POST", "/api/v1/characters"): C(
        signed_in(201, text="signed in; the caller becomes the creator"), "/api/v1/characters", json={"name": "New"}
    ),
    ("POST", "/api/v1/characters/import"): C(
        signed_in(201, text="signed in; the caller owns what is imported"),
        "/api/v1/characters/import",
        files={"file": CARD},
    ),
    ("PATCH", "/api/v1/characters/{character_id:str}"): C(
        owner_only(text="the creator (admins: public and bundled ones; private: 404)"), CHARACTER, json={"tagline": "x"}
    ),
    ("DELETE", "/api/v1/characters/{character_id:str}"): C(
        owner_only(204, text="the creator (admins: public and bundled ones; private: 404); soft delete"), CHARACTER
    ),
    ("POST", "/api/v1/characters/{character_id:str}/avatar"): C(
        owner_only(text="the creator (admins: public and bundled ones; private: 404)"),
        f"{CHARACTER}/avatar",
        files={"file": ("a.png", _tiny_png(), "image/png")},
    ),
    ("POST", "/api/v1/characters/{character_id:str}/rate"): C(
        signed_in(text="signed in; a character the caller may see and did not create (403)"),
        "/api/v1/characters/{public_character}/rate",
        json={"rating": 4},
    ),
    ("GET", "/api/v1/characters/{character_id:str}/reviews"): C(
        owner_only(anonymous=404, text=VISIBLE), f"{CHARACTER}/reviews"
    ),
    ("GET", "/api/v1/characters/{character_id:str}/export"): C(
        owner_only(anonymous=404, text=VISIBLE + "; premium ones: the creator or an admin (403)"),
        f"{CHARACTER}/export?format=json",
    ),
    ("GET", "/api/v1/lorebooks"): C(signed_in(text="signed in; the caller's own lorebooks"), "/api/v1/lorebooks"),
    ("GET", "/api/v1/lorebooks/{book_id:str}"): C(owner_only(), LOREBOOK),
    ("GET", "/api/v1/lorebooks/{book_id:str}/export"): C(owner_only(), f"{LOREBOOK}/export"),
    ("DELETE", "/api/v1/lorebooks/{book_id:str}"): C(owner_only(204), LOREBOOK),
    ("GET", "/media/avatars/{file_path:path}"): C(
        anyone(404, "anyone; content-addressed pictures (a missing one: 404)"), "/media/avatars/00/none.png"
    ),
    ("HEAD", "/media/avatars/{file_path:path}"): C(
        anyone(404, "anyone; content-addressed pictures (a missing one: 404)"), "/media/avatars/00/none.png"
    ),
    ("GET", "/characters/new"): C(signed_in(), "/characters/new"),
    ("POST", "/characters/new"): C(signed_in(303), "/characters/new", form={"name": "Built"}, files=NO_PICTURE),
    ("GET", "/characters/import"): C(signed_in(), "/characters/import"),
    ("POST", "/characters/import"): C(
        signed_in(text="signed in; the caller owns what is imported"),
        "/characters/import",
        form={"visibility": "private"},
        files={"file": CARD},
        headers=HTMX,
    ),
    ("GET", "/characters/builder/row"): C(signed_in(), "/characters/builder/row?kind=lore"),
    ("POST", "/characters/builder/preview"): C(
        signed_in(), "/characters/builder/preview", form={"greeting": "Hi {{user}}"}, headers=HTMX
    ),
    ("GET", "/characters/{character_id:str}/edit"): C(
        owner_only(text="the creator (admins: public and bundled ones; private: 404)"),
        "/characters/{private_character}/edit",
    ),
    ("POST", "/characters/{character_id:str}/edit"): C(
        owner_only(303, text="the creator (admins: public and bundled ones; private: 404)"),
        "/characters/{private_character}/edit",
        form={"name": "Renamed"},
        files=NO_PICTURE,
    ),
    ("POST", "/characters/{character_id:str}/delete"): C(
        owner_only(303, text="the creator (admins: public and bundled ones; private: 404); soft delete"),
        "/characters/{private_character}/delete",
        form={},
    ),
    ("POST", "/characters/{character_id:str}/rate"): C(
        signed_in(303, text="signed in; a character the caller may see and did not create (403)"),
        "/characters/{public_character}/rate",
        form={"rating": "4"},
    ),
}

ENTRY = f"{LOREBOOK}/entries/{{lore_entry}}"
LORE_PAGE = "/lorebooks/{lorebook}"
OWN_BOOK = "the book's owner only; anyone else, admins included, gets 404 (anonymous: 401)"
OWN_TARGET = OWN_BOOK + "; the persona or chat must be the caller's own too"

# World Info (issue 10): the owner's books, their entries, where they apply, the caller's settings.
LORE_RULES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/lorebooks"): C(
        signed_in(201, text="signed in; the caller owns the new book"), "/api/v1/lorebooks", json={"name": "New"}
    ),
    ("GET", "/api/v1/lorebooks/settings"): C(
        signed_in(text="signed in; the caller's own settings"), "/api/v1/lorebooks/settings"
    ),
    ("PATCH", "/api/v1/lorebooks/settings"): C(
        signed_in(text="signed in; the caller's own settings"), "/api/v1/lorebooks/settings", json={"scan_depth": 3}
    ),
    ("PATCH", "/api/v1/lorebooks/{book_id:str}"): C(owner_only(text=OWN_BOOK), LOREBOOK, json={"name": "taken"}),
    ("POST", "/api/v1/lorebooks/{book_id:str}/entries"): C(
        owner_only(201, text=OWN_BOOK), f"{LOREBOOK}/entries", json={"keys": ["x"], "content": "injected"}
    ),
    ("GET", "/api/v1/lorebooks/{book_id:str}/entries/{entry_id:str}"): C(owner_only(text=OWN_BOOK), ENTRY),
    ("PATCH", "/api/v1/lorebooks/{book_id:str}/entries/{entry_id:str}"): C(
        owner_only(text=OWN_BOOK), ENTRY, json={"content": "taken over"}
    ),
    ("DELETE", "/api/v1/lorebooks/{book_id:str}/entries/{entry_id:str}"): C(owner_only(204, text=OWN_BOOK), ENTRY),
    ("GET", "/api/v1/lorebooks/{book_id:str}/attachments"): C(owner_only(text=OWN_BOOK), f"{LOREBOOK}/attachments"),
    ("POST", "/api/v1/lorebooks/{book_id:str}/attachments"): C(
        owner_only(201, text=OWN_TARGET),
        f"{LOREBOOK}/attachments",
        json={"scope": "persona", "target_id": "{persona}"},
    ),
    ("DELETE", "/api/v1/lorebooks/{book_id:str}/attachments/{kind:str}"): C(
        owner_only(204, text=OWN_BOOK), f"{LOREBOOK}/attachments/global"
    ),
    ("DELETE", "/api/v1/lorebooks/{book_id:str}/attachments/{kind:str}/{target_id:str}"): C(
        owner_only(204, text=OWN_BOOK), f"{LOREBOOK}/attachments/conversation/{{conversation}}"
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/lorebooks"): C(
        owner_only(text="the chat's owner only (404 for others, admins included)"), f"{CONVERSATION}/lorebooks"
    ),
    ("GET", "/lorebooks"): C(signed_in(text="signed in; the caller's own lorebooks"), "/lorebooks"),
    ("POST", "/lorebooks"): C(
        signed_in(303, text="signed in; the caller owns the new book"), "/lorebooks", form={"name": "New"}
    ),
    ("POST", "/lorebooks/settings"): C(
        signed_in(303, text="signed in; the caller's own settings"),
        "/lorebooks/settings",
        form={"_settings_form": "1", "scan_depth": "3"},
    ),
    ("GET", "/lorebooks/{book_id:str}"): C(owner_only(text=OWN_BOOK), LORE_PAGE),
    ("POST", "/lorebooks/{book_id:str}"): C(owner_only(303, text=OWN_BOOK), LORE_PAGE, form={"name": "Renamed"}),
    ("POST", "/lorebooks/{book_id:str}/delete"): C(owner_only(303, text=OWN_BOOK), f"{LORE_PAGE}/delete", form={}),
    ("POST", "/lorebooks/{book_id:str}/entries"): C(owner_only(303, text=OWN_BOOK), f"{LORE_PAGE}/entries", form={}),
    ("POST", "/lorebooks/{book_id:str}/entries/{entry_id:str}"): C(
        owner_only(303, text=OWN_BOOK),
        f"{LORE_PAGE}/entries/{{lore_entry}}",
        form={"keys": "secret", "content": "taken over", "enabled": "on"},
    ),
    ("POST", "/lorebooks/{book_id:str}/entries/{entry_id:str}/delete"): C(
        owner_only(303, text=OWN_BOOK), f"{LORE_PAGE}/entries/{{lore_entry}}/delete", form={}
    ),
    ("POST", "/lorebooks/{book_id:str}/attachments"): C(
        owner_only(303, text=OWN_TARGET),
        f"{LORE_PAGE}/attachments",
        form={"scope": "persona", "target_id": "{persona}"},
    ),
    ("POST", "/lorebooks/{book_id:str}/attachments/delete"): C(
        owner_only(303, text=OWN_BOOK),
        f"{LORE_PAGE}/attachments/delete",
        form={"scope": "conversation", "target_id": "{conversation}"},
    ),
}

PERSONA_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/personas"): C(signed_in(text="signed in; lists the caller's own personas"), "/api/v1/personas"),
    ("POST", "/api/v1/personas"): C(signed_in(201), "/api/v1/personas", json={"name": "Ren"}),
    ("GET", "/api/v1/personas/{persona_id:str}"): C(owner_only(), "/api/v1/personas/{persona}"),
    ("PATCH", "/api/v1/personas/{persona_id:str}"): C(owner_only(), "/api/v1/personas/{persona}", json={"name": "X"}),
    ("DELETE", "/api/v1/personas/{persona_id:str}"): C(owner_only(204), "/api/v1/personas/{persona}"),
    ("GET", "/personas"): C(signed_in(text="signed in; the caller's own personas"), "/personas"),
    ("POST", "/personas"): C(signed_in(303), "/personas", form={"name": "Ren"}),
    ("POST", "/personas/{persona_id:str}/default"): C(owner_only(303), "/personas/{persona}/default", form={}),
    ("POST", "/personas/{persona_id:str}/delete"): C(owner_only(303), "/personas/{persona}/delete", form={}),
}

MEMORY = "/api/v1/memory/{conversation}"
# Memory (issue 10): a conversation's memory is the conversation's — read like it, changed by its owner only.
FACT = "/api/v1/memory/{conversation}/facts/{fact}"
MEMORY_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/memory/{conversation_id:str}"): C(owner_only(text=READ), MEMORY),
    ("GET", "/api/v1/memory/{conversation_id:str}/search"): C(owner_only(text=READ), f"{MEMORY}/search?q=hello&k=5"),
    ("GET", "/api/v1/memory/{conversation_id:str}/status"): C(owner_only(text=READ), f"{MEMORY}/status"),
    ("GET", "/api/v1/memory/{conversation_id:str}/relationships"): C(owner_only(text=READ), f"{MEMORY}/relationships"),
    ("GET", "/api/v1/memory/{conversation_id:str}/summary"): C(owner_only(text=READ), f"{MEMORY}/summary"),
    ("POST", "/api/v1/memory/{conversation_id:str}/facts"): C(
        owner_only(201), f"{MEMORY}/facts", json={"content": "a new fact"}
    ),
    ("PATCH", "/api/v1/memory/{conversation_id:str}/facts/{memory_id:str}"): C(
        owner_only(), FACT, json={"content": "changed"}
    ),
    ("DELETE", "/api/v1/memory/{conversation_id:str}/facts/{memory_id:str}"): C(owner_only(204), FACT),
    ("POST", "/api/v1/memory/extract"): C(
        owner_only(202, text="the conversation's owner only (404 for others, admins included)"),
        "/api/v1/memory/extract",
        json={"conversation_id": "{conversation}"},
    ),
    ("GET", "/api/v1/memory/extract/{job_id:str}"): C(
        owner_only(text=READ + "; the job's conversation decides"), "/api/v1/memory/extract/{extraction}"
    ),
    ("POST", "/api/v1/knowledge"): C(
        owner_only(201, text="the owner of the chat (or persona; a character: anyone who may see it) it attaches to"),
        "/api/v1/knowledge",
        form={"scope": "conversation", "scope_id": "{conversation}"},
        files={"file": ("notes.md", b"# Notes\n\nThe owner's notes.", "text/markdown")},
    ),
    ("GET", "/api/v1/knowledge"): C(
        owner_only(text="the caller's own files on an object they own or may see (404 otherwise)"),
        "/api/v1/knowledge?scope=conversation&scope_id={conversation}",
    ),
    ("DELETE", "/api/v1/knowledge/{file_id:str}"): C(owner_only(204), "/api/v1/knowledge/{knowledge}"),
    ("GET", "/chats/{conversation_id:str}/memory"): C(owner_only(text=READ), f"{PAGE}/memory", headers=HTMX),
    ("POST", "/chats/{conversation_id:str}/memory/facts"): C(
        owner_only(), f"{PAGE}/memory/facts", form={"content": "a fact"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/memory/remember/{message_id:str}"): C(
        owner_only(), f"{PAGE}/memory/remember/{{reply}}", form={}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/memory/facts/{memory_id:str}/edit"): C(
        owner_only(), f"{PAGE}/memory/facts/{{fact}}/edit", form={"content": "changed"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/memory/facts/{memory_id:str}/pin"): C(
        owner_only(), f"{PAGE}/memory/facts/{{fact}}/pin", form={"pinned": "false"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/memory/facts/{memory_id:str}/delete"): C(
        owner_only(), f"{PAGE}/memory/facts/{{fact}}/delete", form={}, headers=HTMX
    ),
}

EDITABLE = "the creator (admins: public and bundled ones; private: 404)"
VOICE_OF = "/api/v1/voice/characters/{private_character}"
PICKER = "/voice/characters/{private_character}/picker"

# Voice (issue 11): speech for signed-in users; a character's voice follows the character's own rules.
VOICE_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/voice/voices"): C(
        anyone(text="anyone; the voices installed on the server"), "/api/v1/voice/voices"
    ),
    ("POST", "/api/v1/voice/synthesize"): C(
        signed_in(text="signed in; speaks the text it is given"),
        "/api/v1/voice/synthesize",
        json={"text": "Hello.", "voice_id": "en_US-joe-medium"},
    ),
    ("POST", "/api/v1/voice/transcribe"): C(
        signed_in(422, text="signed in; transcribes the recording it is given (here none: 422)"),
        "/api/v1/voice/transcribe",
    ),
    ("GET", "/api/v1/voice/characters/{character_id:str}"): C(owner_only(anonymous=404, text=VISIBLE), VOICE_OF),
    ("PUT", "/api/v1/voice/characters/{character_id:str}"): C(owner_only(text=EDITABLE), VOICE_OF, json={"speed": 1.5}),
    ("GET", "/voice/characters/{character_id:str}/picker"): C(owner_only(text=EDITABLE), PICKER),
    ("POST", "/voice/characters/{character_id:str}/picker"): C(
        owner_only(text=EDITABLE), PICKER, form={"voice_id": "", "speed": "1.5"}, headers=HTMX
    ),
}


def _avatar_png(side: int = 64) -> bytes:
    """A plain square PNG big enough to be an avatar (the moderation check wants at least 32 px a side)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + b"\x30\x60\x90" * side for _ in range(side)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


MISSING_REPORT = "admins only (403 for users, 401 anonymous); here a report that does not exist: 404"
REPORT_MESSAGE = {"target_type": "message", "target_id": "{reply}", "conversation_id": "{conversation}"}

# Moderation (issue 11): checks for anyone signed in, reports of what the caller can see, the admin queue.
MODERATION_RULES: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/moderate/text"): C(
        signed_in(text="signed in; scores the text given, stores nothing"), "/api/v1/moderate/text", json={"text": "hi"}
    ),
    ("POST", "/api/v1/moderate/image"): C(
        signed_in(text="signed in; checks the picture given (an uncertain one is queued for an admin)"),
        "/api/v1/moderate/image",
        files={"file": ("a.png", _avatar_png(), "image/png")},
    ),
    ("GET", "/api/v1/moderate/decisions"): C(admins(), "/api/v1/moderate/decisions"),
    ("GET", "/api/v1/moderate/warnings"): C(
        signed_in(text="signed in; the caller's own warnings"), "/api/v1/moderate/warnings"
    ),
    ("POST", "/api/v1/reports"): C(
        owner_only(201, text="signed in; a message of the caller's own conversation or a character they can see (404)"),
        "/api/v1/reports",
        json={**REPORT_MESSAGE, "reason": "harassment"},
    ),
    ("GET", "/api/v1/reports"): C(admins(), "/api/v1/reports?status=all"),
    ("GET", "/api/v1/reports/{report_id:str}"): C(
        Rule(MISSING_REPORT, 401, 403, 403, 404), "/api/v1/reports/00000000-0000-0000-0000-000000000000"
    ),
    ("POST", "/api/v1/reports/{report_id:str}/resolve"): C(
        Rule(MISSING_REPORT, 401, 403, 403, 404),
        "/api/v1/reports/00000000-0000-0000-0000-000000000000/resolve",
        json={"action": "dismiss"},
    ),
    ("GET", "/admin/moderation"): C(admins(), "/admin/moderation?status=all"),
    ("POST", "/admin/moderation/reports/{report_id:str}/{action:str}"): C(
        Rule(MISSING_REPORT, 401, 403, 403, 404),
        "/admin/moderation/reports/00000000-0000-0000-0000-000000000000/dismiss",
        form={"note": ""},
    ),
    ("POST", "/reports"): C(
        owner_only(text="signed in; a message of the caller's own conversation or a character they can see (404)"),
        "/reports",
        form={**REPORT_MESSAGE, "reason": "other"},
        headers=HTMX,
    ),
    ("GET", "/warnings"): C(signed_in(text="signed in; the caller's own warnings"), "/warnings"),
}

CHAT_MESSAGES = [{"role": "user", "content": "hi"}]
OWN_KEY = "the caller's own key (404 for anyone else's)"

# AI orchestration (issue 9): models, generation, usage; API keys; the OpenAI-compatible API; the admin's view.
AI_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/ai/models"): C(
        signed_in(text="signed in; the models the caller's plan may use (admins: all)"), "/api/v1/ai/models"
    ),
    ("GET", "/api/v1/ai/usage"): C(
        signed_in(text="signed in; the caller's own generations and costs"), "/api/v1/ai/usage"
    ),
    ("POST", "/api/v1/ai/generate"): C(
        signed_in(text="signed in; generates on a model the caller may use (cost-accounted)"),
        "/api/v1/ai/generate",
        json={"prompt": "hi", "max_tokens": 4},
    ),
    ("POST", "/api/v1/ai/generate/sync"): C(
        signed_in(text="signed in; generates on a model the caller may use (cost-accounted)"),
        "/api/v1/ai/generate/sync",
        json={"prompt": "hi", "max_tokens": 4},
    ),
    ("POST", "/api/v1/ai/moderate"): C(
        signed_in(text="signed in; scores the text given, stores nothing"), "/api/v1/ai/moderate", json={"text": "hi"}
    ),
    ("GET", "/api/v1/admin/ai/usage"): C(admins(), "/api/v1/admin/ai/usage"),
    ("GET", "/admin/models"): C(admins(), "/admin/models"),
    ("GET", "/v1/models"): C(
        signed_in(text="signed in (access token or API key); the models the caller may name"), "/v1/models"
    ),
    ("POST", "/v1/chat/completions"): C(
        signed_in(text="signed in (access token or API key); as a character: only in the caller's own chats (404)"),
        "/v1/chat/completions",
        json={"model": "auto", "messages": CHAT_MESSAGES, "max_tokens": 4},
    ),
    ("POST", "/v1/embeddings"): C(
        signed_in(text="signed in (access token or API key); embeds the texts given, stores nothing"),
        "/v1/embeddings",
        json={"input": "hi"},
    ),
    ("GET", "/api/v1/users/me/api-keys"): C(
        signed_in(text="signed in; the caller's own keys"), "/api/v1/users/me/api-keys"
    ),
    ("POST", "/api/v1/users/me/api-keys"): C(
        signed_in(201, text="signed in; a key for the caller's own account"),
        "/api/v1/users/me/api-keys",
        json={"name": "matrix"},
    ),
    ("DELETE", "/api/v1/users/me/api-keys/{key_id:str}"): C(
        owner_only(204, text=OWN_KEY), "/api/v1/users/me/api-keys/{api_key}"
    ),
    ("GET", "/account/api-keys"): C(signed_in(text="signed in; the caller's own keys"), "/account/api-keys"),
    ("POST", "/account/api-keys"): C(
        signed_in(201, text="signed in; a key for the caller's own account"), "/account/api-keys", form={"name": "m"}
    ),
    ("POST", "/account/api-keys/{key_id:str}/revoke"): C(
        owner_only(303, text=OWN_KEY), "/account/api-keys/{api_key}/revoke", form={}
    ),
}

NO_PROVIDER = "signed in (401 otherwise); 404 `payments_disabled` on a server without a payment provider"
OWN = "signed in (401 otherwise); the caller's own creator data only, never another's"
UNKNOWN = "the creator only; anyone else, admins included, gets 404 (here an unknown id: 404 for all)"
UNKNOWN_PAYOUT = "admins only (403 for users, 401 anonymous); an unknown payout is 404"
# Money, creators and analytics (issue 12). The matrix app has no payment provider (a free community).
MONEY_RULES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/payments/plans"): C(
        anyone(text="anyone: the plans and credit packs on offer"), "/api/v1/payments/plans"
    ),
    ("GET", "/api/v1/payments/subscription"): C(signed_in(), "/api/v1/payments/subscription"),
    ("POST", "/api/v1/payments/subscribe"): C(
        signed_in(404, text=NO_PROVIDER), "/api/v1/payments/subscribe", json={"tier": "plus"}
    ),
    ("POST", "/api/v1/payments/cancel"): C(signed_in(404, text=NO_PROVIDER), "/api/v1/payments/cancel"),
    ("POST", "/api/v1/payments/credits"): C(
        signed_in(404, text=NO_PROVIDER), "/api/v1/payments/credits", json={"pack": "small"}
    ),
    ("POST", "/api/v1/payments/portal"): C(signed_in(404, text=NO_PROVIDER), "/api/v1/payments/portal"),
    ("GET", "/api/v1/payments/history"): C(signed_in(text=OWN.replace("creator ", "")), "/api/v1/payments/history"),
    ("POST", "/api/v1/payments/webhook"): C(
        anyone(404, text="the payment provider, proven by its signature (400 otherwise); 404 without a provider"),
        "/api/v1/payments/webhook",
        json={"id": "evt_x", "type": "invoice.paid"},
    ),
    ("GET", "/api/v1/credits"): C(signed_in(), "/api/v1/credits"),
    ("GET", "/api/v1/credits/ledger"): C(signed_in(), "/api/v1/credits/ledger"),
    ("GET", "/api/v1/creator/profile"): C(signed_in(text=OWN), "/api/v1/creator/profile"),
    ("PATCH", "/api/v1/creator/profile"): C(signed_in(text=OWN), "/api/v1/creator/profile", json={"bio": "mine"}),
    ("GET", "/api/v1/creator/analytics"): C(signed_in(text=OWN), "/api/v1/creator/analytics"),
    ("GET", "/api/v1/creator/characters"): C(signed_in(text=OWN), "/api/v1/creator/characters"),
    ("GET", "/api/v1/creator/earnings"): C(signed_in(text=OWN), "/api/v1/creator/earnings"),
    ("POST", "/api/v1/creator/payout"): C(
        signed_in(422, text=OWN + "; 422 when less than the minimum is pending"), "/api/v1/creator/payout"
    ),
    ("POST", "/api/v1/creator/payout-account"): C(signed_in(404, text=NO_PROVIDER), "/api/v1/creator/payout-account"),
    ("GET", "/api/v1/creator/experiments"): C(signed_in(text=OWN), "/api/v1/creator/experiments"),
    ("POST", "/api/v1/creator/experiments"): C(
        Rule(
            "the character's creator only (404 for anyone else, admins included); 422 for a one-greeting card",
            401,
            404,
            422,
            404,
        ),
        "/api/v1/creator/experiments",
        json={"character_id": "{private_character}", "greeting_a": 0, "greeting_b": 1},
    ),
    ("GET", "/api/v1/creator/experiments/{experiment_id:str}"): C(
        Rule(UNKNOWN, 401, 404, 404, 404), "/api/v1/creator/experiments/00000000-0000-0000-0000-000000000000"
    ),
    ("POST", "/api/v1/creator/experiments/{experiment_id:str}/stop"): C(
        Rule(UNKNOWN, 401, 404, 404, 404), "/api/v1/creator/experiments/00000000-0000-0000-0000-000000000000/stop"
    ),
    ("POST", "/api/v1/characters/{character_id:str}/unlock"): C(
        Rule("who may see the character (404 otherwise); its creator gets 422 (theirs already)", 401, 404, 422, 404),
        "/api/v1/characters/{private_character}/unlock",
    ),
    ("POST", "/api/v1/characters/{character_id:str}/tip"): C(
        Rule("who may see the character (404 otherwise); nobody tips themselves (422)", 401, 404, 422, 404),
        "/api/v1/characters/{private_character}/tip",
        json={"credits": 5},
    ),
    ("GET", "/api/v1/creators/{creator_id:str}"): C(
        Rule("anyone, for a creator with characters they may see (404 otherwise)", 404, 404, 200, 404),
        "/api/v1/creators/{owner_id}",
    ),
    ("GET", "/api/v1/admin/payouts"): C(admins(), "/api/v1/admin/payouts"),
    ("POST", "/api/v1/admin/payouts/{payout_id:str}/{action:str}"): C(
        Rule(UNKNOWN_PAYOUT, 401, 403, 403, 404), "/api/v1/admin/payouts/00000000-0000-0000-0000-000000000000/approve"
    ),
    ("GET", "/api/v1/admin/dashboard"): C(admins(), "/api/v1/admin/dashboard"),
    # -- pages ---------------------------------------------------------------------------------------------
    ("GET", "/billing"): C(signed_in(), "/billing"),
    ("POST", "/billing/{action:str}"): C(signed_in(404, text=NO_PROVIDER), "/billing/subscribe", form={"tier": "plus"}),
    ("GET", "/studio"): C(signed_in(text=OWN), "/studio"),
    ("GET", "/studio/analytics"): C(signed_in(text=OWN), "/studio/analytics"),
    ("GET", "/studio/earnings"): C(signed_in(text=OWN), "/studio/earnings"),
    ("POST", "/studio/payout"): C(signed_in(422, text=OWN), "/studio/payout", form={"amount": ""}),
    ("POST", "/studio/payout-account"): C(signed_in(404, text=NO_PROVIDER), "/studio/payout-account", form={}),
    ("GET", "/studio/experiments"): C(signed_in(text=OWN), "/studio/experiments"),
    ("POST", "/studio/experiments"): C(
        Rule("the character's creator only (404 for anyone else); 422 for a one-greeting card", 401, 404, 422, 404),
        "/studio/experiments",
        form={"character_id": "{private_character}", "greeting_a": "0", "greeting_b": "1"},
    ),
    ("POST", "/studio/experiments/{experiment_id:str}/stop"): C(
        Rule(UNKNOWN, 401, 404, 404, 404), "/studio/experiments/00000000-0000-0000-0000-000000000000/stop", form={}
    ),
    ("GET", "/studio/profile"): C(signed_in(text=OWN), "/studio/profile"),
    ("POST", "/studio/profile"): C(signed_in(303, text=OWN), "/studio/profile", form={"display_name": "Me"}),
    ("GET", "/creators/{creator_id:str}"): C(
        Rule("anyone, for a creator with characters they may see (404 otherwise)", 404, 404, 200, 404),
        "/creators/{owner_id}",
    ),
    ("POST", "/characters/{character_id:str}/unlock"): C(
        Rule("who may see the character (404 otherwise); its creator gets 422", 401, 404, 422, 404),
        "/characters/{private_character}/unlock",
        form={},
    ),
    ("GET", "/admin"): C(admins(), "/admin"),
    ("GET", "/admin/payouts"): C(admins(), "/admin/payouts"),
    ("POST", "/admin/payouts/{payout_id:str}/{action:str}"): C(
        Rule(UNKNOWN_PAYOUT, 401, 403, 403, 404), "/admin/payouts/00000000-0000-0000-0000-000000000000/approve", form={}
    ),
}

ACCESS_RULES: dict[tuple[str, str], Case] = {
    # -- operations and static files ---------------------------------------------------------------
    ("GET", "/health"): C(anyone(), "/health"),
    ("GET", "/ready"): C(anyone(), "/ready"),
    ("GET", "/metrics"): C(anyone(), "/metrics"),
    ("GET", "/static/{file_path:path}"): C(anyone(), "/static/app.css"),
    ("HEAD", "/static/{file_path:path}"): C(anyone(), "/static/app.css"),
    ("GET", "/schema"): C(anyone(), "/schema"),
    ("GET", "/schema/openapi.json"): C(anyone(), "/schema/openapi.json"),
    ("GET", "/schema/openapi.yaml"): C(anyone(), "/schema/openapi.yaml"),
    ("GET", "/schema/openapi.yml"): C(anyone(), "/schema/openapi.yml"),
    ("GET", "/schema/redoc"): C(anyone(), "/schema/redoc"),
    ("GET", "/schema/rapidoc"): C(anyone(), "/schema/rapidoc"),
    ("GET", "/schema/elements"): C(anyone(), "/schema/elements"),
    ("GET", "/schema/swagger"): C(anyone(), "/schema/swagger"),
    ("GET", "/schema/oauth2-redirect.html"): C(anyone(), "/schema/oauth2-redirect.html"),
    ("GET", "/schema/{path:str}"): C(anyone(404), "/schema/nothing-here"),
    # -- auth API ------------------------------------------------------------------------------------
    ("POST", "/api/v1/auth/register"): C(
        anyone(201), "/api/v1/auth/register", json={"email": "{fresh_email}", "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/login"): C(
        anyone(200, "anyone (throttled per email and IP)"),
        "/api/v1/auth/login",
        json={"email": "{owner_email}", "password": PASSWORD},
    ),
    ("POST", "/api/v1/auth/refresh"): C(
        anyone(200, "anyone holding a live refresh token"),
        "/api/v1/auth/refresh",
        json={"refresh_token": "{fresh_refresh}"},
    ),
    ("POST", "/api/v1/auth/logout"): C(anyone(204, "anyone; ends the sign-in it is given"), "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/verify-age"): C(
        signed_in(), "/api/v1/auth/verify-age", json={"date_of_birth": "1990-01-01"}
    ),
    ("POST", "/api/v1/auth/forgot-password"): C(
        anyone(202, "anyone; same answer for every email"),
        "/api/v1/auth/forgot-password",
        json={"email": "{owner_email}"},
    ),
    ("POST", "/api/v1/auth/reset-password"): C(
        anyone(200, "anyone holding a valid reset token"),
        "/api/v1/auth/reset-password",
        json={"token": "{fresh_reset}", "password": PASSWORD},
    ),
    # -- the installable app and search engines -------------------------------------------------------------
    ("GET", "/sw.js"): C(anyone(), "/sw.js"),
    ("GET", "/offline"): C(anyone(text="anyone; a page without anyone's data"), "/offline"),
    ("GET", "/favicon.ico"): C(anyone(), "/favicon.ico"),
    ("GET", "/robots.txt"): C(anyone(), "/robots.txt"),
    ("GET", "/sitemap.xml"): C(anyone(text="anyone; lists public, all-ages characters only"), "/sitemap.xml"),
    # -- passkeys ------------------------------------------------------------------------------------------
    ("GET", "/api/v1/auth/passkeys"): C(
        signed_in(text="signed in; the caller's own passkeys"), "/api/v1/auth/passkeys"
    ),
    ("POST", "/api/v1/auth/passkeys/register/options"): C(
        signed_in(text="signed in; a ceremony for the caller's own account"), "/api/v1/auth/passkeys/register/options"
    ),
    ("POST", "/api/v1/auth/passkeys/register"): C(
        signed_in(422, text="signed in; finishes only the caller's own ceremony (here none: 422)"),
        "/api/v1/auth/passkeys/register",
        json={"ceremony": "x" * 32, "credential": {}},
    ),
    ("DELETE", "/api/v1/auth/passkeys/{passkey_id:str}"): C(
        Rule("signed in; the caller's own passkey only (here none: 404)", 401, 404, 404, 404),
        "/api/v1/auth/passkeys/00000000-0000-0000-0000-000000000000",
    ),
    ("POST", "/api/v1/auth/passkeys/login/options"): C(anyone(200), "/api/v1/auth/passkeys/login/options"),
    ("POST", "/api/v1/auth/passkeys/login"): C(
        anyone(422, "anyone holding a passkey's signed answer to a live ceremony (here none: 422)"),
        "/api/v1/auth/passkeys/login",
        json={"ceremony": "x" * 32, "credential": {}},
    ),
    ("GET", "/account/passkeys"): C(signed_in(text="signed in; the caller's own passkeys"), "/account/passkeys"),
    ("POST", "/account/passkeys/{passkey_id:str}/delete"): C(
        Rule("signed in; the caller's own passkey only (here none: 404)", 401, 404, 404, 404),
        "/account/passkeys/00000000-0000-0000-0000-000000000000/delete",
        form={},
    ),
    ("POST", "/login/passkey"): C(
        anyone(422, "anyone holding a passkey's signed answer to a live ceremony (here none: 422)"),
        "/login/passkey",
        json={"ceremony": "x" * 32, "credential": {}},
    ),
    # -- the caller's own account ----------------------------------------------------------------------
    ("GET", "/api/v1/users/me"): C(signed_in(), "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"): C(signed_in(), "/api/v1/users/me", json={"bio": "changed"}),
    ("DELETE", "/api/v1/users/me"): C(
        signed_in(204, text="signed in; deletes the caller's own account (password; not the last admin)"),
        "/api/v1/users/me",
        json={"password": PASSWORD},
    ),
    ("POST", "/api/v1/users/me/password"): C(
        signed_in(), "/api/v1/users/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/v1/users/me/preferences"): C(signed_in(), "/api/v1/users/me/preferences"),
    ("PATCH", "/api/v1/users/me/preferences"): C(signed_in(), "/api/v1/users/me/preferences", json={"theme": "dark"}),
    ("GET", "/api/v1/users/me/favorites"): C(signed_in(), "/api/v1/users/me/favorites"),
    ("POST", "/api/v1/users/me/favorites"): C(
        signed_in(201, text="signed in; only characters the caller may see"),
        "/api/v1/users/me/favorites",
        json={"character_id": "{public_character}"},
    ),
    ("DELETE", "/api/v1/users/me/favorites/{character_id:str}"): C(
        owner_only(204, text="signed in; the caller's own favorite (404 otherwise)"),
        "/api/v1/users/me/favorites/{public_character}",
    ),
    ("GET", "/api/v1/users/me/collections"): C(signed_in(), "/api/v1/users/me/collections"),
    ("POST", "/api/v1/users/me/collections"): C(signed_in(201), "/api/v1/users/me/collections", json={"name": "mine"}),
    ("GET", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(), "/api/v1/users/me/collections/{collection}"
    ),
    ("PATCH", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(), "/api/v1/users/me/collections/{collection}", json={"name": "taken over"}
    ),
    ("DELETE", "/api/v1/users/me/collections/{collection_id:str}"): C(
        owner_only(204), "/api/v1/users/me/collections/{collection}"
    ),
    ("POST", "/api/v1/users/me/collections/{collection_id:str}/characters"): C(
        owner_only(201),
        "/api/v1/users/me/collections/{collection}/characters",
        json={"character_id": "{second_character}"},
    ),
    ("DELETE", "/api/v1/users/me/collections/{collection_id:str}/characters/{character_id:str}"): C(
        owner_only(204), "/api/v1/users/me/collections/{collection}/characters/{public_character}"
    ),
    ("GET", "/api/v1/collections/{collection_id:str}"): C(
        owner_only(anonymous=404, text="anyone if the collection is public, else the owner only (404)"),
        "/api/v1/collections/{collection}",
    ),
    # -- administration ---------------------------------------------------------------------------------
    ("GET", "/api/v1/admin/users"): C(admins(), "/api/v1/admin/users"),
    ("GET", "/api/v1/admin/users/{user_id:str}"): C(admins(), "/api/v1/admin/users/{owner_id}"),
    ("PATCH", "/api/v1/admin/users/{user_id:str}"): C(
        admins(), "/api/v1/admin/users/{owner_id}", json={"tier": "plus"}
    ),
    ("DELETE", "/api/v1/admin/users/{user_id:str}"): C(admins(204), "/api/v1/admin/users/{owner_id}"),
    ("POST", "/api/v1/admin/users/{user_id:str}/reset-link"): C(
        admins(201), "/api/v1/admin/users/{owner_id}/reset-link"
    ),
    ("GET", "/api/v1/admin/audit"): C(admins(), "/api/v1/admin/audit"),
    # -- characters ---------------------------------------------------------------------------------------
    ("GET", "/api/v1/characters"): C(
        anyone(text="anyone; lists only public characters (+ own) within the viewer's content tiers"),
        "/api/v1/characters",
    ),
    ("GET", "/api/v1/characters/{character_id:str}"): C(
        owner_only(
            anonymous=404, text="public ones: anyone within their content tier; private: the creator only (404)"
        ),
        "/api/v1/characters/{private_character}",
    ),
    # -- conversations --------------------------------------------------------------------------------------
    ("GET", "/api/v1/conversations"): C(
        signed_in(text="signed in; lists the caller's own conversations"), "/api/v1/conversations"
    ),
    ("POST", "/api/v1/conversations"): C(
        signed_in(201, text="signed in; with a character the caller may see"),
        "/api/v1/conversations",
        json={"character_id": "{public_character}"},
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/api/v1/conversations/{conversation}",
    ),
    ("DELETE", "/api/v1/conversations/{conversation_id:str}"): C(
        owner_only(204), "/api/v1/conversations/{conversation}"
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/api/v1/conversations/{conversation}/messages",
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/messages"): C(
        owner_only(201), "/api/v1/conversations/{conversation}/messages", json={"content": "hello"}
    ),
    ("GET", "/api/v1/conversations/{conversation_id:str}/messages/{message_id:str}/stream"): C(
        owner_only(), "/api/v1/conversations/{conversation}/messages/{message}/stream"
    ),
    ("POST", "/api/v1/conversations/{conversation_id:str}/cancel"): C(
        owner_only(), "/api/v1/conversations/{conversation}/cancel"
    ),
    # -- sign-in pages --------------------------------------------------------------------------------------
    ("GET", "/login"): C(SIGN_IN_FORM, "/login"),
    ("POST", "/login"): C(
        anyone(303, "anyone (throttled per email and IP)"),
        "/login",
        form={"email": "{owner_email}", "password": PASSWORD},
    ),
    ("GET", "/register"): C(SIGN_IN_FORM, "/register"),
    ("POST", "/register"): C(anyone(303), "/register", form={"email": "{fresh_email}", "password": PASSWORD}),
    ("POST", "/logout"): C(anyone(303, "anyone; ends the browser session"), "/logout", form={}),
    ("GET", "/forgot-password"): C(anyone(), "/forgot-password"),
    ("POST", "/forgot-password"): C(
        anyone(200, "anyone; same answer for every email"), "/forgot-password", form={"email": "{owner_email}"}
    ),
    ("GET", "/reset-password"): C(anyone(), "/reset-password?token=x"),
    ("POST", "/reset-password"): C(
        anyone(303, "anyone holding a valid reset token"),
        "/reset-password",
        form={"token": "{fresh_reset}", "password": PASSWORD},
    ),
    # -- account pages --------------------------------------------------------------------------------------
    ("GET", "/account"): C(signed_in(), "/account"),
    ("POST", "/account"): C(signed_in(303), "/account", form={"display_name": "Changed"}),
    ("POST", "/account/password"): C(
        signed_in(303), "/account/password", form={"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("POST", "/account/verify-age"): C(signed_in(303), "/account/verify-age", form={"date_of_birth": "1990-01-01"}),
    ("POST", "/account/delete"): C(
        signed_in(303, text="signed in; deletes the caller's own account (password; not the last admin)"),
        "/account/delete",
        form={"password": PASSWORD, "confirm": "delete"},
    ),
    ("GET", "/account/preferences"): C(signed_in(), "/account/preferences"),
    ("POST", "/account/preferences"): C(
        signed_in(303), "/account/preferences", form={"theme": "dark", "language": "en"}
    ),
    ("GET", "/favorites"): C(signed_in(), "/favorites"),
    ("POST", "/favorites/{character_id:str}/remove"): C(
        owner_only(303, text="signed in; the caller's own favorite (404 otherwise)"),
        "/favorites/{public_character}/remove",
        form={},
    ),
    ("GET", "/collections"): C(signed_in(), "/collections"),
    ("POST", "/collections"): C(signed_in(303), "/collections", form={"name": "mine"}),
    ("GET", "/collections/{collection_id:str}"): C(
        owner_only(anonymous=404, text="anyone if the collection is public, else the owner only (404)"),
        "/collections/{collection}",
    ),
    ("POST", "/collections/{collection_id:str}"): C(owner_only(303), "/collections/{collection}", form={"name": "x"}),
    ("POST", "/collections/{collection_id:str}/delete"): C(
        owner_only(303), "/collections/{collection}/delete", form={}
    ),
    ("GET", "/characters/{character_id:str}/collections"): C(
        signed_in(text="signed in (401 otherwise): the caller's own collections, for a character they can see"),
        "/characters/{public_character}/collections",
    ),
    ("POST", "/collections/{collection_id:str}/characters"): C(
        owner_only(303), "/collections/{collection}/characters", form={"character_id": "{second_character}"}
    ),
    ("POST", "/collections/{collection_id:str}/characters/{character_id:str}/remove"): C(
        owner_only(303), "/collections/{collection}/characters/{public_character}/remove", form={}
    ),
    ("GET", "/admin/users"): C(admins(), "/admin/users"),
    ("POST", "/admin/users/{user_id:str}/{action:str}"): C(
        admins(303), "/admin/users/{owner_id}/tier", form={"tier": "plus"}
    ),
    # -- catalogue and chat pages -------------------------------------------------------------------------
    ("GET", "/"): C(anyone(text="anyone; shows public characters within the viewer's content tiers"), "/"),
    ("GET", "/characters/{character_id:str}"): C(
        owner_only(
            anonymous=404, text="public ones: anyone within their content tier; private: the creator only (404)"
        ),
        "/characters/{private_character}",
    ),
    ("POST", "/characters/{character_id:str}/chat"): C(
        signed_in(303, text="signed in; with a character the caller may see"),
        "/characters/{public_character}/chat",
        form={},
    ),
    ("GET", "/chats"): C(signed_in(text="signed in; lists the caller's own conversations"), "/chats"),
    ("GET", "/chats/{conversation_id:str}"): C(
        owner_only(text="the owner only (404 for others; admins only with [privacy] admin_can_read_chats, audited)"),
        "/chats/{conversation}",
    ),
    ("POST", "/chats/{conversation_id:str}/messages"): C(
        owner_only(204), "/chats/{conversation}/messages", form={"content": "hi"}, headers=HTMX
    ),
    ("POST", "/chats/{conversation_id:str}/cancel"): C(owner_only(204), "/chats/{conversation}/cancel", form={}),
    ("POST", "/chats/{conversation_id:str}/delete"): C(owner_only(303), "/chats/{conversation}/delete", form={}),
    **CHAT_RULES,
    **MEMORY_RULES,
    **PERSONA_RULES,
    **CHARACTER_RULES,
    **LORE_RULES,
    **MODERATION_RULES,
    **VOICE_RULES,
    **AI_RULES,
    **ROOM_RULES,
    **MONEY_RULES,
    # -- sign in with OIDC (plugin) ------------------------------------------------------------------------
    ("GET", "/auth/oidc/{provider:str}/login"): C(anyone(302), "/auth/oidc/test/login"),
    ("GET", "/auth/oidc/{provider:str}/callback"): C(
        anyone(401, "anyone; finishes only a login this browser started (state + cookie)"),
        "/auth/oidc/test/callback?code=c&state=forged",
    ),
    ("POST", "/auth/oidc/{provider:str}/callback"): C(
        anyone(401, "anyone; finishes only a login this browser started (state + cookie); no CSRF token"),
        "/auth/oidc/test/callback",
        form={"code": "c", "state": "forged"},
    ),
}


def check_chat_socket(client: TestClient[Any], ids: dict[str, str], tokens: dict[str, str]) -> None:
    """Anyone signed in may open /ws; only the owner may join (or act on) the owner's conversation, and in a
    shared room the people invited in (the guest) too — until they are removed."""
    from litestar.exceptions import WebSocketDisconnect

    try:
        with client.websocket_connect("/ws") as socket:
            socket.receive_json()
        raise AssertionError("an anonymous socket was accepted")
    except WebSocketDisconnect:
        pass
    room, own = ids["room"], ids["conversation"]
    frames = {
        "conversation:join": {},
        "typing:start": {},
        "message:cancel": {},
        "message:trigger": {"character_id": ids["public_character"]},
    }
    cases = [("other", own, False), ("admin", own, False), ("owner", own, True)]
    cases += [("other", room, False), ("admin", room, False), ("guest", own, False), ("guest", room, True)]
    for identity, conversation, allowed in cases:
        with client.websocket_connect(f"/ws?token={tokens[identity]}") as socket:
            for event, data in frames.items():
                socket.send_json({"event": event, "data": {"conversation_id": conversation, **data}})
                if allowed:  # no error comes back before the answer to a ping sent after it
                    socket.send_json({"event": "ping", "data": {}})
                    while (frame := socket.receive_json())["event"] != "pong":
                        assert frame["event"] != "error", (identity, event, frame)
                else:
                    frame = socket.receive_json()
                    assert frame == {
                        "event": "error",
                        "data": {"code": "not_found", "message": "conversation not found", "event": event},
                    }, (identity, event, frame)
    # A removed guest's socket is cut off from the room at once.
    with client.websocket_connect(f"/ws?token={tokens['guest']}") as socket:
        socket.send_json({"event": "conversation:join", "data": {"conversation_id": room}})
        while socket.receive_json()["event"] != "conversation:joined":
            pass
        headers = {"Authorization": f"Bearer {tokens['owner']}"}
        assert (
            client.delete(f"/api/v1/conversations/{room}/people/{ids['guest_id']}", headers=headers).status_code == 204
        )
        while socket.receive_json()["event"] != "room:removed":
            pass
        socket.send_json({"event": "typing:start", "data": {"conversation_id": room}})
        assert socket.receive_json()["data"]["code"] == "not_found"


def check_voice_socket(client: TestClient[Any], ids: dict[str, str], tokens: dict[str, str]) -> None:
    """Anyone signed in may open the voice stream; only the owner may follow the owner's conversation."""
    from litestar.exceptions import WebSocketDisconnect

    try:
        with client.websocket_connect("/api/v1/voice/stream") as socket:
            socket.receive_json()
        raise AssertionError("an anonymous voice socket was accepted")
    except WebSocketDisconnect:
        pass
    follow = {"event": "voice:follow", "data": {"conversation_id": ids["conversation"]}}
    speak = {"event": "voice:speak", "data": {"conversation_id": ids["conversation"], "message_id": ids["reply"]}}
    for identity, allowed in (("other", False), ("admin", False), ("owner", True)):
        with client.websocket_connect(f"/api/v1/voice/stream?token={tokens[identity]}") as socket:
            for frame, answer in ((follow, "voice:following"), (speak, "voice:utterance:start")):
                socket.send_json(frame)
                event = socket.receive_json()
                if allowed:
                    assert event["event"] == answer, (identity, event)
                else:
                    assert event == {
                        "event": "error",
                        "data": {"code": "not_found", "message": "conversation not found", "event": frame["event"]},
                    }, (identity, event)


# WebSocket routes need a checker of their own: fn(client, ids, tokens) asserting the four identities.
WEBSOCKET_RULES: dict[str, tuple[str, Callable[[TestClient[Any], dict[str, str], dict[str, str]], None]]] = {
    "/ws": (
        "signed in (closed with 4401 otherwise); joins and acts on the caller's own conversations and the rooms"
        " they were invited into (join, send, regenerate, continue, cancel, trigger, typing), until removed",
        check_chat_socket,
    ),
    "/api/v1/voice/stream": (
        "signed in (closed with 4401 otherwise); follows and speaks the caller's own conversations only",
        check_voice_socket,
    ),
}


def access_table() -> str:
    """The routes and their access rules, as the closing note's Markdown table."""
    lines = ["| Method | Route | Access |", "|---|---|---|"]
    for (method, path), case in sorted(ACCESS_RULES.items(), key=lambda item: (item[0][1], item[0][0])):
        lines.append(f"| {method} | `{path}` | {case.rule.text} |")
    lines += [f"| WS | `{path}` | {text} |" for path, (text, _check) in sorted(WEBSOCKET_RULES.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(access_table())
