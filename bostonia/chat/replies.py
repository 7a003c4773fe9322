"""Generating replies: send, regenerate (a new swipe), continue, cancel — and warming the model's cache.

A reply runs as a background task owned by the server: it builds the prompt (on a thread: token
counting needs the model's tokenizer), queues a job on the model's worker, fans pieces out through a
`ReplyStream` and the conversation hub, and stores the message when done (a partial one on cancel).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from bostonia.analytics.recorder import EventSink
from bostonia.characters.schemas import Character
from bostonia.characters.service import CharacterService
from bostonia.chat import events, group
from bostonia.chat.cast import CastService
from bostonia.chat.events import ReplyMode
from bostonia.chat.guard import ContentGuard, OpenGuard, OutputVerdict
from bostonia.chat.hub import ConversationHub
from bostonia.chat.metering import ReplyMeter
from bostonia.chat.schemas import Conversation, Message, SamplerSettings, Speaker
from bostonia.chat.service import ChatService
from bostonia.chat.stage import session_for
from bostonia.chat.store import ConversationStore
from bostonia.chat.streams import RepliesInFlight, ReplyStream
from bostonia.chat.turn_taking import Pending, TurnTaking, takes_turns
from bostonia.chat.turns import Turn, TurnQueue
from bostonia.config import LLMConfig
from bostonia.db.values import new_id
from bostonia.errors import BostoniaError, Conflict, InvalidInput, Unavailable
from bostonia.identity import User
from bostonia.llm.base import ROUTING_FIELDS, ChatMessage, ChatModel, GenerationRequest, SamplingParams
from bostonia.llm.registry import ModelRegistry
from bostonia.llm.worker import GenerationQueues
from bostonia.orchestration.routing import ModelRouter
from bostonia.orchestration.service import Orchestrator, RoutedGeneration
from bostonia.personas.service import PersonaService
from bostonia.prompt.builder import BuiltPrompt, PromptInjection, build_prompt

log = logging.getLogger(__name__)
# Room left in the context for the template's own tokens beyond our per-message estimate.
CONTEXT_MARGIN = 32
STANDING_KEPT = 4096  # conversations whose last prompt's summary choice is remembered
# Tiny models occasionally end a reply before saying anything; ask again this many times.
EMPTY_REPLY_RETRIES = 2
# A reply the content guard withdrew is generated again this many times, then replaced.
MODERATION_RETRIES = 1


class PromptInjector(Protocol):
    """Supplies dynamic prompt material (lore, memories, summaries) for the next reply."""

    async def injections(
        self, user: User, conversation: Conversation, character: Character, history: Sequence[Message | ChatMessage]
    ) -> list[PromptInjection]:
        """Material for the reply to `history` (oldest first; the last item is what the user just said)."""
        ...


@runtime_checkable
class ReplyObserver(Protocol):
    """An injector that keeps state across turns (lore's timed effects) and updates it only for prompts
    that really produced a reply, not for previews or cache warm-ups."""

    async def reply_stored(
        self, user: User, conversation: Conversation, history: Sequence[Message], message: Message
    ) -> None:
        """`message` was stored as the reply to `history`."""
        ...


@runtime_checkable
class PromptObserver(Protocol):
    """An injector that leaves out of its material what the prompt holds anyway (recalled memories): it is
    told which messages each prompt built with its material kept, and judges the next prompt by that."""

    def prompt_built(
        self, conversation: Conversation, history: Sequence[Message | ChatMessage], kept_from: int
    ) -> bool:
        """A prompt for `conversation` built from `history` kept its messages from `history[kept_from]` on.
        True: the material it gave this prompt left out messages the prompt does not hold (the new message
        pushed the history's start on); the prompt is then built once more, with material asked for again."""
        ...


class TokenCounter:
    """Memoized token counts per model: history messages are counted again on every turn."""

    def __init__(self, model: ChatModel, size: int = 20_000) -> None:
        self.model = model
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._size = size

    def __call__(self, text: str) -> int:
        count = self._counts.get(text)
        if count is None:
            count = self._counts[text] = self.model.count_tokens(text)
            if len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return count


def merged_settings(config: LLMConfig, character: Character, conversation: Conversation) -> SamplingParams:
    """Server defaults, then the character's sampler settings, then the conversation's overrides."""
    try:
        from_card = msgspec.convert(character.settings, SamplerSettings, strict=False)
    except msgspec.ValidationError:
        log.warning("ignoring invalid sampler settings of character %s", character.id)
        from_card = SamplerSettings()
    values: dict[str, Any] = {
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
        "min_p": config.min_p,
        "repeat_penalty": config.repeat_penalty,
    }
    stop: list[str] = []
    for layer in (from_card, conversation.settings):
        for key, value in msgspec.structs.asdict(layer).items():
            if value is None or key in ROUTING_FIELDS:
                continue
            if key == "stop":
                stop = list(value)
            else:
                values[key] = value
    return SamplingParams(**values, stop=tuple(stop))


def clean_reply(text: str, character_name: str) -> str:
    """Trim whitespace and a leading "Name:" that small models like to write before their line."""
    text = text.strip()
    words = character_name.split()
    if words:
        pattern = rf"^(?:{re.escape(character_name)}|{re.escape(words[0])})\s*:\s*"
        text = re.sub(pattern, "", text, count=1, flags=re.IGNORECASE).strip()
    return text


class ReplyService(TurnTaking):
    def __init__(
        self,
        chat: ChatService,
        conversations: ConversationStore,
        characters: CharacterService,
        personas: PersonaService,
        models: ModelRegistry,
        queues: GenerationQueues,
        hub: ConversationHub,
        config: LLMConfig,
        injectors: Sequence[PromptInjector] = (),
        *,
        in_flight: RepliesInFlight,
        router: ModelRouter,
        orchestrator: Orchestrator,
        cast: CastService,
        turns: TurnQueue | None = None,
        guard: ContentGuard | None = None,
        analytics: EventSink | None = None,
    ) -> None:
        self.meter = ReplyMeter(analytics)
        self.analytics = self.meter.analytics
        self.chat = chat
        self.conversations = conversations
        self.characters = characters
        self.personas = personas
        self.models = models
        self.queues = queues
        self.hub = hub
        self.config = config
        self.injectors = list(injectors)
        self.guard: ContentGuard = guard or OpenGuard()
        self.in_flight = in_flight  # shared with the chat service, which refuses edits meanwhile
        self.router = router  # which models serve a reply (tier, the character's wish, the chat's pick)
        self.orchestrator = orchestrator  # runs them in order: fallback, usage, accounting
        self.cast = cast  # who speaks (a group's strategies) and the prompt parts for them
        self.turns = turns or TurnQueue()  # replies waiting in groups and shared rooms; auto-mode
        cast.settings_listeners.append(self._settings_changed)
        cast.room_service.typing_listeners.append(self.turns.postpone)
        self._closing = False
        self._counters: dict[str, TokenCounter] = {}
        # Per conversation, where its last prompt's history started and which summary it showed: kept while
        # the start stays, so a summary written meanwhile does not make the model re-read the whole prompt.
        self._standing: OrderedDict[str, tuple[int, dict[str, int]]] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    # -- starting replies --------------------------------------------------------------------------

    async def send(
        self, user: User, conversation_id: str, content: str, *, sender: str | None = None, ooc: bool = False
    ) -> ReplyStream | Pending:
        """Store the user's message and start generating the reply in the background. `Pending`: no reply
        starts now — an out-of-character message (`ooc`, or written `(( like this ))`), a manual group, or
        (in a group or shared room) a reply queued behind the one being generated. `/trigger [name]` makes
        a character speak instead of sending anything."""
        content = self.chat.valid_content(content)
        if (command := group.trigger_command(content)) is not None:
            return await self.trigger(user, conversation_id, command.name)
        conversation = await self._open_conversation(user, conversation_id)
        character = await self.characters.of_conversation(conversation.character_id)
        route = self.route(user, conversation, character)  # raises before anything is stored if there is no model
        await self.guard.check_input(user, conversation, character, content)  # a blocked message is not stored
        history = await self.conversations.path(conversation_id)
        await self._check_edited(user, conversation, history)
        ooc = ooc or group.is_out_of_character(content)
        persona = await self.cast.room_service.persona_of(user, conversation)
        admitted = (
            None if ooc else await self.orchestrator.admit(user, route)
        )  # may refuse (402, 403): nothing stored yet
        user_message = await self.conversations.append(
            conversation_id=conversation_id,
            parent_id=history[-1].id if history else None,
            role="user",
            content=content,
            speaker=Speaker(user_id=user.id, name=persona.name),
            ooc=ooc,
            chain=takes_turns(conversation),  # others may have written meanwhile: after the latest message
        )
        self.hub.publish(conversation_id, events.received(user_message), sender=sender)
        self.chat.messages_changed(conversation_id, [user_message.id])
        self.analytics.record("message_sent", user_id=user.id, character_id=conversation.character_id, sender="user")
        if ooc:
            return Pending(user_message)
        self.turns.disarm(conversation_id)  # a person spoke: auto-mode starts again after the answer
        return await self._take_turn(
            Turn(user, "answer"), conversation, route, user_message=user_message, admitted=admitted
        )

    async def regenerate(self, user: User, conversation_id: str, message_id: str) -> ReplyStream:
        """A new reply to the same turn: a sibling (swipe) of an assistant message, or a (new) answer to
        a user message. The new one becomes the shown path; the old ones stay as swipes."""
        target = await self.chat.message(user, conversation_id, message_id, access="member")
        conversation = await self._idle_conversation(user, conversation_id)
        route = await self._route_of(user, conversation)
        if target.role == "assistant":
            if target.parent_id is None:
                raise InvalidInput(
                    "a greeting cannot be regenerated; swipe to an alternate greeting",
                    code="cannot_regenerate_greeting",
                )
            history = await self.conversations.path_to(target.parent_id)
        elif target.role == "user":
            history = await self.conversations.path_to(target.id)
        else:
            raise InvalidInput("only user and assistant messages can be regenerated")
        await self._check_edited(user, conversation, history)
        # A new swipe of a reply is the same character's; a new answer to a message, the group's pick.
        speaker = await self.cast.speaker_of(conversation, target) if target.role == "assistant" else None
        speaker = speaker or await self.cast.pick(conversation, history)
        speaker = speaker or await self.cast.likely_speaker(conversation, history)
        admitted = await self.orchestrator.admit(user, route)  # may refuse (402, 403): nothing stored
        self.analytics.record("feature_used", user_id=user.id, feature="regenerate")
        return await self._start_when_idle(
            user, conversation, route, history, admitted, mode="regenerate", parent_id=history[-1].id, speaker=speaker
        )

    async def continue_reply(self, user: User, conversation_id: str, message_id: str) -> ReplyStream:
        """Make the last assistant message longer: the model picks up exactly where it stopped."""
        target = await self.chat.message(user, conversation_id, message_id, access="member")
        conversation = await self._idle_conversation(user, conversation_id)
        route = await self._route_of(user, conversation)
        path = await self.conversations.path(conversation_id)
        if target.role != "assistant" or not path or path[-1].id != target.id:
            raise Conflict(
                "only the last message of the conversation, a reply, can be continued", code="cannot_continue"
            )
        await self._check_edited(user, conversation, path)
        speaker = await self.cast.speaker_of(conversation, target)
        admitted = await self.orchestrator.admit(user, route)  # may refuse (402, 403)
        self.analytics.record("feature_used", user_id=user.id, feature="continue")
        return await self._start_when_idle(
            user,
            conversation,
            route,
            path,
            admitted,
            mode="continue",
            parent_id=target.parent_id,
            message_id=target.id,
            prefix=target.content,
            speaker=speaker,
        )

    async def _start_when_idle(
        self,
        user: User,
        conversation: Conversation,
        route: list[ChatModel],
        history: list[Message],
        admitted: str,
        *,
        mode: ReplyMode,
        parent_id: str | None,
        speaker: Character | None,
        message_id: str | None = None,
        prefix: str = "",
    ) -> ReplyStream:
        """Start a reply that is not a turn (a new swipe, a continuation): only while nothing is generated
        in the conversation (in a room too); the admission is freed when something is."""
        async with self.turns.lock(conversation.id):
            try:
                self.chat.ensure_idle(conversation.id)
            except BostoniaError:
                await self.orchestrator.release(user, admitted)
                raise
            return await self._start(
                user,
                conversation,
                route,
                history,
                mode=mode,
                parent_id=parent_id,
                message_id=message_id,
                prefix=prefix,
                admitted=admitted,
                speaker=speaker,
            )

    async def _check_edited(self, user: User, conversation: Conversation, history: list[Message]) -> None:
        """Edited messages reach the model as the user wrote them: they pass the content guard first."""
        if edited := [m for m in history if m.edited_at is not None]:
            character = await self.characters.of_conversation(conversation.character_id)
            for message in edited:
                await self.guard.check_input(user, conversation, character, message.content)

    def route(self, user: User, conversation: Conversation, character: Character) -> list[ChatModel]:
        """The models that serve this chat's replies, in fallback order (Unavailable when none is)."""
        settings = conversation.settings
        return self.router.route_for_chat(user.tier, settings.model, bool(settings.creative), character.settings)

    async def _route_of(self, user: User, conversation: Conversation) -> list[ChatModel]:
        return self.route(user, conversation, await self.characters.of_conversation(conversation.character_id))

    async def prompt_model(self, user: User, conversation_id: str) -> str:
        """The model the next reply of this chat goes to first."""
        conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        return (await self._route_of(user, conversation))[0].model_id

    async def _idle_conversation(self, user: User, conversation_id: str) -> Conversation:
        conversation = await self.chat.get_conversation(user, conversation_id, access="member")
        self.chat.ensure_idle(conversation_id)
        return conversation

    async def _start(
        self,
        user: User,
        conversation: Conversation,
        route: list[ChatModel],
        history: list[Message],
        *,
        mode: ReplyMode,
        parent_id: str | None,
        user_message: Message | None = None,
        message_id: str | None = None,
        prefix: str = "",
        admitted: str | None = None,
        speaker: Character | None = None,
    ) -> ReplyStream:
        conversation_id = conversation.id
        speaker = speaker or await self.characters.of_conversation(conversation.character_id)
        reply = ReplyStream(
            conversation_id=conversation_id,
            message_id=message_id or new_id(),
            parent_id=parent_id,
            mode=mode,
            user_message=user_message,
            prefix=prefix,
            on_event=lambda event: self.hub.publish(conversation_id, event),
            speaker=Speaker(character_id=speaker.id, name=speaker.name),
        )
        self.in_flight.add(reply)
        reply.started()
        reply.task = asyncio.create_task(self._generate(reply, user, conversation, route, history, speaker, admitted))
        return reply

    # -- inspecting, following, stopping -------------------------------------------------------------

    def active_reply(self, conversation_id: str, message_id: str | None = None) -> ReplyStream | None:
        """The reply in flight (callers have checked the conversation is the user's)."""
        reply = self.in_flight.get(conversation_id)
        if reply is None or (message_id is not None and reply.message_id != message_id):
            return None
        return reply

    async def cancel(self, user: User, conversation_id: str) -> bool:
        await self.chat.get_conversation(user, conversation_id, access="member")
        self.turns.disarm(conversation_id)  # stopping a reply stops auto-mode's next one too
        reply = self.in_flight.get(conversation_id)
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
        self._closing = True  # nothing queued starts any more
        await self.turns.close()
        await asyncio.gather(*(self._cancel_and_wait(reply) for reply in self.in_flight.all()))
        await asyncio.gather(*self._background, return_exceptions=True)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # held until done: the event loop keeps only weak references
        task.add_done_callback(self._background.discard)

    def warm_soon(self, user: User, conversation_id: str) -> None:
        """`warm` without holding up the caller (a page or a join answers first; the model reads after)."""
        self._in_background(self.warm(user, conversation_id))

    async def preview_prompt(self, user: User, conversation_id: str, content: str | None = None) -> BuiltPrompt:
        """The prompt that would be sent if the user sent `content` now (nothing is stored): the owner's
        view only (a room's guests do not read the cards and memories behind it)."""
        conversation = await self.chat.get_conversation(user, conversation_id)
        model = (await self._route_of(user, conversation))[0]
        history = await self.conversations.path(conversation_id)
        extra = ChatMessage("user", self.chat.valid_content(content)) if content and content.strip() else None
        speaker = await self.cast.likely_speaker(conversation, history)  # a group's pick may roll dice
        prompt, _ = await self._prompt(user, conversation, model, history, extra=extra, character=speaker)
        return prompt

    async def warm(self, user: User, conversation_id: str) -> None:
        """Process the conversation's prompt so far in the background (when the model is idle), so the
        next reply only has to read the new message. Called when a user opens a conversation."""
        if conversation_id in self.in_flight:
            return
        try:
            conversation = await self.chat.get_conversation(user, conversation_id, access="member")
            model = (await self._route_of(user, conversation))[0]
            history = await self.conversations.path(conversation_id)
            speaker = await self.cast.likely_speaker(conversation, history)  # in a group, who probably speaks next
            async with self.orchestrator.using(model):  # loads it within the memory budget, off the loop
                prompt, params = await self._prompt(user, conversation, model, history, character=speaker)
        except BostoniaError:
            return
        request = GenerationRequest(
            messages=tuple(prompt.messages),
            params=params,
            session=session_for(conversation, speaker.id),
            prefill_only=True,
            continue_last=prompt.ends_in_reply,
            droppable=prompt.droppable,
        )
        self.queues.get(model).submit(user.id, request, background=True)

    # -- generation ------------------------------------------------------------------------------

    def _counter(self, model: ChatModel) -> Callable[[str], int]:
        counter = self._counters.get(model.model_id)
        if counter is None or counter.model is not model:
            counter = self._counters[model.model_id] = TokenCounter(model)
        return counter

    async def _prompt(
        self,
        user: User,
        conversation: Conversation,
        model: ChatModel,
        history: list[Message],
        *,
        extra: ChatMessage | None = None,
        continuing: bool = False,
        character: Character | None = None,
    ) -> tuple[BuiltPrompt, SamplingParams]:
        """The prompt for the next reply to `history` (+ `extra`, a message not stored yet) by `character`
        (the conversation's, or in a group the speaker's; pass it when it is at hand)."""
        character = character or await self.characters.of_conversation(conversation.character_id)
        stage = await self.cast.stage(user, conversation, character, history)  # cards, names, stop strings
        params = merged_settings(self.config, character, conversation)
        params = msgspec.structs.replace(params, stop=(*stage.stop, *params.stop))
        history = [m for m in history if not m.ooc]  # out-of-character lines never reach the model
        scanned: Sequence[Message | ChatMessage] = [*history, extra] if extra else history
        chat = stage.history(history) + ([stage.line("user", extra.content, stage.default_person)] if extra else [])
        budget = model.context_size - params.max_tokens - CONTEXT_MARGIN

        async def build() -> tuple[BuiltPrompt, bool]:
            injections: list[PromptInjection] = []
            for injector in self.injectors:
                injections += await injector.injections(user, conversation, character, scanned)
            built = await asyncio.to_thread(
                build_prompt,
                stage.card,
                chat,
                user_name=stage.macros.user,
                budget=budget,
                count_tokens=self._counter(model),
                persona=stage.persona,
                macros=stage.macros,
                injections=injections,
                continuing=continuing,
                system_macros=stage.system_macros,
                standing=self._standing.get(conversation.id),
            )
            again = False
            for injector in self.injectors:
                if isinstance(injector, PromptObserver):
                    again |= bool(injector.prompt_built(conversation, scanned, built.dropped_messages))
            return built, again

        prompt, again = await build()
        if again:  # the injections are a reserved size: the second build keeps the same history
            prompt, _ = await build()
        self._standing[conversation.id] = (prompt.dropped_messages, prompt.standing)
        self._standing.move_to_end(conversation.id)
        if len(self._standing) > STANDING_KEPT:
            self._standing.popitem(last=False)
        return (prompt if continuing else stage.finish(prompt, self._counter(model))), params

    async def _reply_stored(
        self, user: User, conversation: Conversation, history: list[Message], message: Message
    ) -> None:
        for injector in self.injectors:
            if isinstance(injector, ReplyObserver):
                try:
                    await injector.reply_stored(user, conversation, history, message)
                except Exception:  # the reply is stored and shown; a failed bookkeeping step must not undo it
                    log.exception("after-reply step of %s failed", type(injector).__name__)

    async def _generate(
        self,
        reply: ReplyStream,
        user: User,
        conversation: Conversation,
        route: list[ChatModel],
        history: list[Message],
        character: Character,  # the speaker
        admitted: str | None = None,
    ) -> None:
        continuing = reply.mode == "continue"
        model = route[0]  # the prompt is shaped for the first model (its context and tokenizer)
        fallbacks: list[dict[str, Any]] = []
        started = time.monotonic()
        job: RoutedGeneration | None = None
        history = [m for m in history if not m.ooc]  # what the model reads (and after-reply steps are told)
        try:
            async with self.orchestrator.using(model):  # loads it within the memory budget, off the loop
                prompt, params = await self._prompt(
                    user, conversation, model, history, continuing=continuing, character=character
                )
            content = ""
            empty = withdrawn = 0
            replaced = False
            for attempt in range(EMPTY_REPLY_RETRIES + MODERATION_RETRIES + 1):
                request = GenerationRequest(
                    messages=tuple(prompt.messages),
                    params=params,
                    session=session_for(conversation, character.id),
                    continue_last=continuing or prompt.ends_in_reply,
                    droppable=prompt.droppable,
                )
                watch = self.guard.watch_reply(user, conversation, character, reply.message_id, attempt)
                if job is not None:
                    await job.release()  # the attempt before was withdrawn or empty: it is not charged
                job = self.orchestrator.start(
                    user,
                    route,
                    request,
                    source="chat",
                    admitted=admitted if job is None else None,
                    conversation_id=conversation.id,
                    message_id=reply.message_id,
                    on_fallback=lambda fallback: fallbacks.append(reply.fell_back(fallback)),
                    on_queued=reply.queued,
                )
                reply.job = job
                if reply.cancelled:  # cancelled while the prompt was being built
                    job.cancel()
                leading = not continuing
                async for piece in job:
                    if leading:  # don't stream the whitespace a model often starts with
                        piece = piece.lstrip()
                        leading = not piece
                    if piece:
                        shown = watch.feed(piece)
                        if shown is not None:  # known to be blocked: what broke the rules is not streamed
                            if shown:
                                reply.append(piece[:shown])
                            job.cancel()
                            break
                        reply.append(piece)
                content = reply.text.rstrip() if continuing else clean_reply(reply.text, character.name)
                verdict = await watch.finish(content) if content else OutputVerdict(False)
                if verdict.blocked:
                    # What was streamed is withdrawn (clients drop it); the next attempt streams afresh.
                    reply.retract(verdict.reason)
                    fallbacks.clear()
                    content = ""
                    if reply.cancelled or withdrawn == MODERATION_RETRIES:
                        if not reply.cancelled:
                            if continuing:  # the message keeps what it had; the continuation is refused
                                raise Conflict(verdict.reason, code="reply_withheld")
                            content, replaced = verdict.replacement, True
                        break
                    withdrawn += 1
                    params = msgspec.structs.replace(params, temperature=params.temperature + 0.2)
                    continue
                if content or reply.cancelled:
                    break
                empty += 1
                if empty > EMPTY_REPLY_RETRIES:
                    break
                log.info("empty reply from %s, retrying (attempt %d)", model.model_id, attempt + 1)
                params = msgspec.structs.replace(params, temperature=params.temperature + 0.2)
            if not content and not reply.cancelled:
                raise Unavailable("the model produced an empty reply; try again", code="empty_reply")
            if not content:
                reply.fail(BostoniaError("the reply was cancelled before any text", code="cancelled"))
                return
            status = "partial" if reply.cancelled else "complete"
            assert job is not None  # there was text, so there was an attempt
            served = job.model  # the model that finished the reply (another than the first after a fallback)
            metadata = {"fallbacks": fallbacks} if fallbacks else None
            if continuing:
                message = await self.conversations.set_content(
                    reply.message_id,
                    reply.prefix + content,
                    edited=False,
                    status=status,
                    tokens_used=await job.count_tokens(reply.prefix + content),
                    model_used=served.model_id,
                    metadata=metadata,
                )
            else:
                message = await self.conversations.append(
                    conversation_id=reply.conversation_id,
                    parent_id=reply.parent_id,
                    role="assistant",
                    content=content,
                    message_id=reply.message_id,
                    model_used=served.model_id,
                    tokens_used=await job.count_tokens(content),
                    status=status,
                    is_regeneration=reply.mode == "regenerate",
                    metadata=metadata,
                    speaker=reply.speaker,
                    chain=reply.mode == "reply" and takes_turns(conversation),  # after what others said meanwhile
                )
            if not replaced:
                await job.charge()  # the model's own text was kept (not moderation's replacement)
                self.meter.replied(user, conversation, served.model_id, job.tokens_out, started)
            # Before `complete`: whoever waits for the reply then also sees the state it leaves (lore timers).
            await self._reply_stored(user, conversation, history, message)
            reply.complete(message)
            self.chat.messages_changed(reply.conversation_id, [message.id])
            # While the user reads and types, let the idle model re-read the conversation as the next prompt
            # will render it: sampled tokens are often not the canonical tokenization of the stored text, and
            # the next reply would otherwise re-process everything from the first such token.
            self.warm_soon(user, reply.conversation_id)
        except BostoniaError as exc:
            reply.fail(exc)
        except Exception:
            log.exception("generation failed in conversation %s", reply.conversation_id)
            reply.fail(Unavailable("the model failed to generate a reply", code="generation_failed"))
        finally:
            await self.in_flight.finished(reply)  # and its crash checkpoint goes
            if job is not None:
                await job.release()  # whatever was not charged is freed at once (nothing, after a charge)
            elif admitted is not None:  # failed before the first attempt began (the prompt)
                await self.orchestrator.release(user, admitted)
            if takes_turns(conversation) and not self._closing:
                # Queued turns go on even after a stop or a failure; auto-mode only after a stored reply.
                auto = reply.message is not None and not reply.cancelled
                self._in_background(self._next_turn(reply.conversation_id, user, auto=auto))
