"""Memory over HTTP: `/api/v1/memory/...` (the seed's memory service endpoints). A conversation's memory
is read like the conversation and changed by its owner only (the service checks)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter

from bostonia.http.deps import CurrentUser
from bostonia.memory import schemas
from bostonia.memory.deps import Knowledge, Memory
from bostonia.memory.knowledge import MAX_FILE_BYTES, KnowledgeFile, KnowledgeList
from bostonia.memory.schemas import (
    ExtractionStatus,
    ExtractRequest,
    FactChanges,
    IndexStatus,
    MemoryList,
    MemoryOverview,
    NewFact,
    SearchResults,
    SummaryView,
)


class MemoryController(Controller):
    path = "/api/v1/memory"
    tags = ["memory"]

    @post("/extract", status_code=202)
    async def start_extraction(
        self, data: JSONBody[ExtractRequest], memory: Memory, user: CurrentUser
    ) -> ExtractionStatus:
        """Extract memories from every turn of the conversation not done yet, in the background."""
        return await memory.extract(user, data.conversation_id)

    @get("/extract/{job_id:str}")
    async def extraction_status(self, job_id: FromPath[str], memory: Memory, user: CurrentUser) -> ExtractionStatus:
        return await memory.extraction(user, job_id)

    @get("/{conversation_id:str}")
    async def overview(self, conversation_id: FromPath[str], memory: Memory, user: CurrentUser) -> MemoryOverview:
        """What the character remembers of the conversation: memories (pinned first), the summary, the index."""
        return await memory.overview(user, conversation_id)

    @post("/{conversation_id:str}/facts", status_code=201)
    async def add_fact(
        self, conversation_id: FromPath[str], data: JSONBody[NewFact], memory: Memory, user: CurrentUser
    ) -> schemas.Memory:
        """A memory the user writes (pinned by default), optionally citing the message it comes from."""
        return await memory.add_fact(user, conversation_id, data)

    @patch("/{conversation_id:str}/facts/{memory_id:str}")
    async def update_fact(
        self,
        conversation_id: FromPath[str],
        memory_id: FromPath[str],
        data: JSONBody[FactChanges],
        memory: Memory,
        user: CurrentUser,
    ) -> schemas.Memory:
        return await memory.update_fact(user, conversation_id, memory_id, data)

    @delete("/{conversation_id:str}/facts/{memory_id:str}", status_code=204)
    async def delete_fact(
        self, conversation_id: FromPath[str], memory_id: FromPath[str], memory: Memory, user: CurrentUser
    ) -> None:
        await memory.delete_fact(user, conversation_id, memory_id)

    @get("/{conversation_id:str}/relationships")
    async def relationships(self, conversation_id: FromPath[str], memory: Memory, user: CurrentUser) -> MemoryList:
        """The people, pets and places the conversation has taught the character about."""
        return MemoryList(items=await memory.relationships(user, conversation_id))

    @get("/{conversation_id:str}/summary")
    async def summary(self, conversation_id: FromPath[str], memory: Memory, user: CurrentUser) -> SummaryView:
        """The rolling "story so far" (null until the chat is long enough)."""
        return SummaryView(summary=await memory.summary(user, conversation_id))

    @get("/{conversation_id:str}/search")
    async def search(
        self,
        conversation_id: FromPath[str],
        memory: Memory,
        user: CurrentUser,
        q: FromQuery[str],
        k: FromQuery[int] = 10,
    ) -> SearchResults:
        """What the conversation remembers about `q`, best first: messages, extracted memories, knowledge."""
        return SearchResults(query=q, items=await memory.search(user, conversation_id, q, k))

    @get("/{conversation_id:str}/status")
    async def status(self, conversation_id: FromPath[str], memory: Memory, user: CurrentUser) -> IndexStatus:
        """How much of the conversation is indexed for recall, and how much is waiting."""
        return await memory.status(user, conversation_id)


class KnowledgeUpload(msgspec.Struct):
    scope: str
    scope_id: str
    file: UploadFile


class KnowledgeController(Controller):
    """Knowledge files (the Data Bank): text or Markdown attached to a character, a persona or a chat."""

    path = "/api/v1/knowledge"
    tags = ["memory"]

    @post("/", status_code=201, request_max_body_size=MAX_FILE_BYTES + 64 * 1024)
    async def upload(
        self, data: MultipartBody[KnowledgeUpload], knowledge: Knowledge, user: CurrentUser
    ) -> KnowledgeFile:
        content = await data.file.read(MAX_FILE_BYTES + 1)
        return await knowledge.upload(user, data.scope, data.scope_id, data.file.filename, content)

    @get("/")
    async def list_files(
        self,
        knowledge: Knowledge,
        user: CurrentUser,
        attached_to: Annotated[str, QueryParameter(name="scope")],
        scope_id: FromQuery[str],
    ) -> KnowledgeList:
        """The caller's files attached to one character, persona or conversation (`?scope=&scope_id=`)."""
        return KnowledgeList(items=await knowledge.files(user, attached_to, scope_id))

    @delete("/{file_id:str}", status_code=204)
    async def delete_file(self, file_id: FromPath[str], knowledge: Knowledge, user: CurrentUser) -> None:
        await knowledge.delete(user, file_id)
