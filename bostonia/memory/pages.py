"""The memory panel beside a chat (HTMX partials): what the character remembers, the summary, and the
user's changes — write, pin, edit, delete, and "remember this" on any message. Hidden when the user
turned `memory_visible` off in their preferences."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Template

from bostonia.http.deps import CurrentUser
from bostonia.identity import User
from bostonia.memory.deps import Memory
from bostonia.memory.schemas import FactChanges, NewFact
from bostonia.memory.service import MemoryService
from bostonia.ui.forms import Form
from bostonia.users.deps import Users
from bostonia.users.service import UserService

PANEL = "_memory_panel.html"


async def panel(
    memory: MemoryService, users: UserService, user: User, conversation_id: str, notice: str = ""
) -> Template:
    visible = (await users.preferences(user)).memory_visible
    overview = await memory.overview(user, conversation_id) if visible else None
    return Template(PANEL, context={"overview": overview, "visible": visible, "cid": conversation_id, "notice": notice})


class MemoryPages(Controller):
    path = "/chats/{conversation_id:str}/memory"
    include_in_schema = False  # HTML for the chat page, not API

    @get("/")
    async def show(self, conversation_id: FromPath[str], user: CurrentUser, memory: Memory, users: Users) -> Template:
        return await panel(memory, users, user, conversation_id)

    @post("/facts")
    async def add(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, memory: Memory, users: Users
    ) -> Template:
        await memory.add_fact(user, conversation_id, NewFact(content=data.get("content", "")[:2000] or " "))
        return await panel(memory, users, user, conversation_id, "Remembered.")

    @post("/remember/{message_id:str}")
    async def remember(
        self, conversation_id: FromPath[str], message_id: FromPath[str], user: CurrentUser, memory: Memory, users: Users
    ) -> Template:
        """ "Remember this" on a message: its text becomes a pinned memory citing it."""
        message = await memory.chat.message(user, conversation_id, message_id)
        fact = NewFact(content=message.content[:2000], source_message_ids=[message.id])
        await memory.add_fact(user, conversation_id, fact)
        return await panel(memory, users, user, conversation_id, "Remembered.")

    @post("/facts/{memory_id:str}/edit")
    async def edit(
        self,
        conversation_id: FromPath[str],
        memory_id: FromPath[str],
        data: Form,
        user: CurrentUser,
        memory: Memory,
        users: Users,
    ) -> Template:
        changes = FactChanges(content=data.get("content", "")[:2000] or " ")
        await memory.update_fact(user, conversation_id, memory_id, changes)
        return await panel(memory, users, user, conversation_id, "Saved.")

    @post("/facts/{memory_id:str}/pin")
    async def pin(
        self,
        conversation_id: FromPath[str],
        memory_id: FromPath[str],
        data: Form,
        user: CurrentUser,
        memory: Memory,
        users: Users,
    ) -> Template:
        changes = FactChanges(is_pinned=data.get("pinned") == "true")
        await memory.update_fact(user, conversation_id, memory_id, changes)
        return await panel(memory, users, user, conversation_id)

    @post("/facts/{memory_id:str}/delete")
    async def delete(
        self, conversation_id: FromPath[str], memory_id: FromPath[str], user: CurrentUser, memory: Memory, users: Users
    ) -> Template:
        await memory.delete_fact(user, conversation_id, memory_id)
        return await panel(memory, users, user, conversation_id, "Forgotten.")
