"""Memory over HTTP: `/api/v1/memory/{conversation_id}/...` (the seed's memory service endpoints)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from bostonia.http.deps import CurrentUser, Memory
from bostonia.memory.schemas import IndexStatus, SearchResults


class MemoryController(Controller):
    path = "/api/v1/memory"
    tags = ["memory"]

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
