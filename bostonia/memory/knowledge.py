"""Knowledge files (SillyTavern's Data Bank): text and Markdown a user attaches to a character, a persona or
one chat. Files are cut into overlapping chunks at paragraph boundaries, embedded and keyed for BM25 like
messages, and a conversation's search also looks in the files that apply to it: its own, its
character's and its persona's — the user's files only (a file is its owner's, whatever it is attached to).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from bostonia.characters.service import CharacterService
from bostonia.chat.schemas import Conversation
from bostonia.chat.service import ChatService
from bostonia.db import Database, sqlite3
from bostonia.db.values import new_id, utcnow
from bostonia.embeddings import Embedder, Vectors
from bostonia.errors import InvalidInput, NotFound, PayloadTooLarge
from bostonia.identity import User
from bostonia.memory.store import scope_token, vector_blob
from bostonia.personas.service import PersonaService

MAX_FILE_BYTES = 1024 * 1024
MAX_FILES_PER_SCOPE = 50
CHUNK_CHARS = 800
OVERLAP_CHARS = 120
Scope = Literal["character", "persona", "conversation"]
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


class KnowledgeFile(msgspec.Struct, kw_only=True):
    id: str
    scope: Scope
    scope_id: str
    name: str
    size: int
    chunks: int
    created_at: str


class KnowledgeList(msgspec.Struct, kw_only=True):
    items: list[KnowledgeFile]


class KnowledgeHit(msgspec.Struct, frozen=True, kw_only=True):
    chunk_id: int
    file_name: str
    content: str
    created_at: str


FileName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


def chunk_text(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Chunks of about `size` characters, cut at paragraph (else sentence, else word) boundaries, each
    starting with the last `overlap` characters of the one before, so a fact on a boundary is whole in one."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        while len(paragraph) > size:
            cut = max(paragraph.rfind(". ", 0, size), paragraph.rfind(" ", 0, size))
            cut = cut + 1 if cut > size // 3 else size
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if paragraph:
            pieces.append(paragraph)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 2 > size:
            chunks.append(current)
            tail = current[-overlap:]
            tail = tail[tail.find(" ") + 1 :] if " " in tail else tail
            current = f"{tail} {piece}".strip() if overlap else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def file_scope(file_id: str) -> str:
    """The FTS token standing for one file's chunks."""
    return scope_token(f"k{file_id}")


class KnowledgeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        owner_id: str,
        scope: Scope,
        scope_id: str,
        name: str,
        size: int,
        chunks: Sequence[str],
        vectors: Vectors,
    ) -> str:
        def insert(conn: sqlite3.Connection) -> str:
            file_id = new_id()
            count = conn.execute(
                f"select count(*) from knowledge_files where owner_id = ? and {scope}_id = ?", (owner_id, scope_id)
            ).fetchone()[0]
            if count >= MAX_FILES_PER_SCOPE:
                raise InvalidInput(f"at most {MAX_FILES_PER_SCOPE} files per {scope}", code="too_many_files")
            conn.execute(
                f"insert into knowledge_files (id, owner_id, scope, {scope}_id, name, size, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                (file_id, owner_id, scope, scope_id, name, size, utcnow()),
            )
            token = file_scope(file_id)
            for position, (text, vector) in enumerate(zip(chunks, vectors, strict=True)):
                cursor = conn.execute(
                    "insert into knowledge_chunks (file_id, position, content) values (?, ?, ?)",
                    (file_id, position, text),
                )
                chunk_id = int(cursor.lastrowid or 0)
                conn.execute(
                    "insert into knowledge_fts (rowid, scope, content) values (?, ?, ?)", (chunk_id, token, text)
                )
                conn.execute(
                    "insert into knowledge_vectors (chunk_id, file_id, embedding) values (?, ?, ?)",
                    (chunk_id, file_id, vector_blob(vector)),
                )
            return file_id

        return await self.db.write(insert)

    async def files(self, owner_id: str, scope: Scope, scope_id: str) -> list[KnowledgeFile]:
        rows = await self.db.fetchall(
            f"select f.id, f.scope, f.{scope}_id as scope_id, f.name, f.size, f.created_at,"
            " (select count(*) from knowledge_chunks c where c.file_id = f.id) as chunks"
            f" from knowledge_files f where f.owner_id = ? and f.{scope}_id = ? order by f.created_at",
            (owner_id, scope_id),
        )
        return [msgspec.convert(row, KnowledgeFile) for row in rows]

    async def get(self, file_id: str) -> dict[str, Any] | None:
        return await self.db.fetchone("select * from knowledge_files where id = ?", (file_id,))

    async def delete(self, file_id: str) -> None:
        await self.db.execute_write("delete from knowledge_files where id = ?", (file_id,))

    async def applicable(self, conversation: Conversation, character_id: str) -> list[str]:
        """Ids of the owner's files that apply to this conversation."""
        rows = await self.db.fetchall(
            "select id from knowledge_files where owner_id = ? and (conversation_id = ? or character_id = ?"
            " or (persona_id is not null and persona_id = ?))",
            (conversation.user_id, conversation.id, character_id, conversation.persona_id),
        )
        return [row["id"] for row in rows]

    async def bm25(self, file_ids: Sequence[str], match: str, limit: int) -> dict[int, float]:
        scopes = " OR ".join(f"scope:{file_scope(f)}" for f in file_ids)
        rows = await self.db.fetchall(
            "select rowid, -bm25(knowledge_fts, 0.0, 1.0) as score from knowledge_fts where knowledge_fts match ?"
            " order by bm25(knowledge_fts, 0.0, 1.0) limit ?",
            (f"({scopes}) AND ({match})", limit),
        )
        return {int(row["rowid"]): float(row["score"]) for row in rows}

    async def knn(self, file_ids: Sequence[str], vector: Any, k: int) -> dict[int, float]:
        found: dict[int, float] = {}
        for file_id in file_ids:
            rows = await self.db.fetchall(
                "select chunk_id, distance from knowledge_vectors where embedding match ? and k = ? and file_id = ?",
                (vector_blob(vector), k, file_id),
            )
            found.update({int(row["chunk_id"]): 1.0 - float(row["distance"]) ** 2 / 2 for row in rows})
        return found

    async def chunks(self, ids: Sequence[int]) -> dict[int, KnowledgeHit]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(
            "select c.id as chunk_id, f.name as file_name, c.content, f.created_at from knowledge_chunks c"
            f" join knowledge_files f on f.id = c.file_id where c.id in ({marks})",
            list(ids),
        )
        return {int(row["chunk_id"]): msgspec.convert(row, KnowledgeHit) for row in rows}


class KnowledgeService:
    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        chat: ChatService,
        characters: CharacterService,
        personas: PersonaService,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chat = chat
        self.characters = characters
        self.personas = personas

    async def _check_scope(self, user: User, scope: str, scope_id: str) -> Scope:
        if scope == "conversation":
            await self.chat.get_conversation(user, scope_id)
        elif scope == "persona":
            await self.personas.get(user, scope_id)
        elif scope == "character":
            await self.characters.get(user, scope_id)  # one the user may see
        else:
            raise InvalidInput("scope must be character, persona or conversation", details={"field": "scope"})
        return scope  # type: ignore[return-value]

    async def upload(self, user: User, scope: str, scope_id: str, name: str, data: bytes) -> KnowledgeFile:
        checked = await self._check_scope(user, scope, scope_id)
        if len(data) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"knowledge files are limited to {MAX_FILE_BYTES // 1024} KB")
        name = (name or "notes.txt").strip()[:200] or "notes.txt"
        if not name.lower().endswith(TEXT_SUFFIXES):
            raise InvalidInput("knowledge files are text or Markdown (.txt, .md)", details={"field": "file"})
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the file is not UTF-8 text", details={"field": "file"}) from None
        chunks = chunk_text(text)
        if not chunks:
            raise InvalidInput("the file is empty", details={"field": "file"})
        vectors = await asyncio.to_thread(self.embedder.embed, chunks)
        file_id = await self.store.add(
            owner_id=user.id,
            scope=checked,
            scope_id=scope_id,
            name=name,
            size=len(data),
            chunks=chunks,
            vectors=vectors,
        )
        return next(f for f in await self.store.files(user.id, checked, scope_id) if f.id == file_id)

    async def files(self, user: User, scope: str, scope_id: str) -> list[KnowledgeFile]:
        checked = await self._check_scope(user, scope, scope_id)
        return await self.store.files(user.id, checked, scope_id)

    async def delete(self, user: User, file_id: str) -> None:
        found = await self.store.get(file_id)
        if found is None or found["owner_id"] != user.id:
            raise NotFound("knowledge file not found")
        await self.store.delete(file_id)
