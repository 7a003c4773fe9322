"""Conversations and replies: ownership checks, storing messages, running generation in the background."""

from __future__ import annotations

import asyncio
import logging
import re

import msgspec

from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.chat.schemas import Conversation, Message
from bostonia.chat.store import ConversationStore
from bostonia.chat.streams import ReplyStream
from bostonia.config import LLMConfig
from bostonia.db.values import new_id
from bostonia.errors import BostoniaError, Conflict, InvalidInput, NotFound, Unavailable
from bostonia.llm.base import ChatMessage, SamplingParams
from bostonia.llm.registry import ModelRegistry
from bostonia.llm.worker import GenerationQueues
from bostonia.prompt.builder import build_prompt
from bostonia.prompt.macros import expand
from bostonia.users.privacy import Access, ConversationAccessPolicy
from bostonia.users.schemas import User

log = logging.getLogger(__name__)
# Room left in the context for the template's own tokens beyond our per-message estimate.
CONTEXT_MARGIN = 32
# Tiny models occasionally end a reply before saying anything; ask again this many times.
EMPTY_REPLY_RETRIES = 2


class ChatService:
    def __init__(
        self,
        conversations: ConversationStore,
        characters: CharacterService,
        models: ModelRegistry,
        queues: GenerationQueues,
        config: LLMConfig,
        *,
        access: ConversationAccessPolicy | None = None,
    ) -> None:
        self.conversations = conversations
        self.access = access
        self.characters = characters
        self.models = models
        self.queues = queues
        self.config = config
        self._replies: dict[str, ReplyStream] = {}  # conversation id -> the reply being generated

    # -- conversations ---------------------------------------------------------------------------

    async def start_conversation(self, user: User, character_id: str) -> Conversation:
        character = await self.characters.get(user, character_id)
        greeting = expand(character.greeting, char=character.name, user=user.display_name)
        return await self.conversations.create(user_id=user.id, character_id=character.id, greeting=greeting)

    async def list_conversations(self, user: User, *, character_id: str | None = None) -> list[Conversation]:
        return await self.conversations.list_for_user(user.id, character_id=character_id)

    async def get_conversation(self, user: User, conversation_id: str, *, access: Access = "write") -> Conversation:
        """The user's own conversation. Someone else's is reported as missing: ids are not probeable.
        Only the access policy may let an admin `read` another user's conversation (audit-logged)."""
        conversation = await self.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound("conversation not found")
        if conversation.user_id != user.id and (
            self.access is None
            or not await self.access.allows(
                user, owner_id=conversation.user_id, conversation_id=conversation.id, access=access
            )
        ):
            raise NotFound("conversation not found")
        return conversation

    async def delete_conversation(self, user: User, conversation_id: str) -> None:
        await self.get_conversation(user, conversation_id)
        if reply := self._replies.get(conversation_id):
            await self._cancel_and_wait(reply)
        await self.conversations.delete(conversation_id)

    async def messages(self, user: User, conversation_id: str) -> list[Message]:
        await self.get_conversation(user, conversation_id, access="read")
        return await self.conversations.active_path(conversation_id)

    # -- replies -------------------------------------------------------------------------------

    async def send(self, user: User, conversation_id: str, content: str) -> ReplyStream:
        """Store the user's message and start generating the reply in the background."""
        content = content.strip()
        if not content:
            raise InvalidInput("message content must not be blank", details={"field": "content"})
        if len(content) > self.config.max_message_chars:
            raise InvalidInput(
                f"message is longer than {self.config.max_message_chars} characters",
                code="message_too_long",
                details={"field": "content"},
            )
        conversation = await self.get_conversation(user, conversation_id)
        if conversation_id in self._replies:
            raise Conflict("a reply is already being generated in this conversation", code="reply_in_progress")
        model = self.models.default  # raises before anything is stored if no model exists
        character = await self.characters.get(user, conversation.character_id)
        history = await self.conversations.active_path(conversation_id)
        user_message = await self.conversations.append(
            conversation_id=conversation_id, parent_id=history[-1].id if history else None, role="user", content=content
        )
        history.append(user_message)

        reply = ReplyStream(conversation_id=conversation_id, message_id=new_id(), user_message=user_message)
        self._replies[conversation_id] = reply
        reply.task = asyncio.create_task(self._generate(reply, user, character, history, model.model_id))
        return reply

    def active_reply(self, user: User, conversation_id: str, message_id: str | None = None) -> ReplyStream | None:
        reply = self._replies.get(conversation_id)
        if reply is None or reply.user_message.conversation_id != conversation_id:
            return None
        if message_id is not None and reply.message_id != message_id:
            return None
        return reply

    async def cancel(self, user: User, conversation_id: str) -> bool:
        await self.get_conversation(user, conversation_id)
        reply = self._replies.get(conversation_id)
        if reply is None:
            return False
        await self._cancel_and_wait(reply)
        return True

    async def _cancel_and_wait(self, reply: ReplyStream) -> None:
        reply.cancelled = True
        if reply.job is not None:
            reply.job.cancel()
        if reply.task is not None:
            await asyncio.wait([reply.task])

    async def shutdown(self) -> None:
        """Stop every reply in flight; each keeps what it generated so far as a partial message."""
        await asyncio.gather(*(self._cancel_and_wait(reply) for reply in list(self._replies.values())))

    async def _generate(
        self, reply: ReplyStream, user: User, character: Character, history: list[Message], model_id: str
    ) -> None:
        model = self.models.get(model_id)
        params = SamplingParams(
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            top_k=self.config.top_k,
            min_p=self.config.min_p,
            repeat_penalty=self.config.repeat_penalty,
            stop=(f"\n{user.display_name}:", "\nUser:"),
        )
        chat = [ChatMessage(m.role, m.content) for m in history]
        budget = model.context_size - params.max_tokens - CONTEXT_MARGIN
        try:
            prompt = await asyncio.to_thread(
                build_prompt,
                character,
                chat,
                user_name=user.display_name,
                budget=budget,
                count_tokens=model.count_tokens,
            )
            content = ""
            for attempt in range(EMPTY_REPLY_RETRIES + 1):
                job = self.queues.get(model).submit(user.id, prompt.messages, params)
                reply.job = job
                if reply.cancelled:  # cancelled while the prompt was being built
                    job.cancel()
                leading = True
                async for piece in job:
                    if leading:  # don't stream the whitespace a model often starts with
                        piece = piece.lstrip()
                        leading = not piece
                    if piece:
                        reply.append(piece)
                content = clean_reply(reply.text, character.name)
                if content or reply.cancelled:
                    break
                log.info("empty reply from %s, retrying (attempt %d)", model.model_id, attempt + 1)
                params = msgspec.structs.replace(params, temperature=params.temperature + 0.2)
            if not content and not reply.cancelled:
                raise Unavailable("the model produced an empty reply; try again", code="empty_reply")
            if content:
                tokens = await asyncio.to_thread(model.count_tokens, content)
                message = await self.conversations.append(
                    conversation_id=reply.conversation_id,
                    parent_id=reply.user_message.id,
                    role="assistant",
                    content=content,
                    message_id=reply.message_id,
                    model_used=model.model_id,
                    tokens_used=tokens,
                    status="partial" if reply.cancelled else "complete",
                )
                reply.complete(message)
            else:
                reply.fail(BostoniaError("the reply was cancelled before any text", code="cancelled"))
        except BostoniaError as exc:
            reply.fail(exc)
        except Exception:
            log.exception("generation failed in conversation %s", reply.conversation_id)
            reply.fail(Unavailable("the model failed to generate a reply", code="generation_failed"))
        finally:
            self._replies.pop(reply.conversation_id, None)


def clean_reply(text: str, character_name: str) -> str:
    """Trim whitespace and a leading "Name:" that small models like to write before their line."""
    text = text.strip()
    first_name = re.escape(character_name.split()[0]) if character_name.split() else ""
    pattern = rf"^(?:{re.escape(character_name)}|{first_name})\s*:\s*" if first_name else None
    if pattern:
        text = re.sub(pattern, "", text, count=1, flags=re.IGNORECASE).strip()
    return text
