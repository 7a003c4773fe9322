"""Long-term memories from each turn: the local model proposes facts, preferences, relationships and events
as JSON (schema-constrained where the model supports it), and only what the turn's messages support is
kept (`grounding.check`). Each memory cites its source messages, gets an importance score, and joins the
recall index — as a document of its own and as extra BM25 keys of the messages it came from
("fact-augmented keys": a turn is then found by what it means as well as by what it says).

Extraction runs after the reply, in the background, one turn at a time, at the lowest priority of the
model's queue (a reply preempts it; a preempted turn is tried again later), so it never delays a reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bostonia.db.values import new_id
from bostonia.embeddings import Embedder
from bostonia.errors import Unavailable
from bostonia.llm.base import ChatMessage, GenerationRequest, SamplingParams
from bostonia.llm.registry import ModelRegistry
from bostonia.llm.worker import GenerationQueues
from bostonia.memory import grounding
from bostonia.memory.records import MemoryRecord, MemoryRecords, Turn
from bostonia.memory.store import NewDocument, RecallStore
from bostonia.memory.vectors import VectorSearch

log = logging.getLogger(__name__)
KINDS = ("fact", "preference", "relationship", "event")
KIND_PRIOR = {"relationship": 0.7, "preference": 0.6, "event": 0.6, "fact": 0.5}
MAX_PER_TURN = 5
AUTO_TURNS = 3  # turns one chat event may extract at most
EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "maxItems": MAX_PER_TURN,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "content": {"type": "string", "maxLength": 200},
                    "importance": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["kind", "content", "importance"],
            },
        }
    },
    "required": ["memories"],
}
INSTRUCTIONS = (
    "You keep the long-term memory of a chat between {user} and {char}. From the messages below, list what is "
    "worth remembering later: facts about {user} or {char}, their preferences (likes, dislikes), relationships "
    "(people, pets, places in their lives) and events. One short sentence each, in the third person, using "
    'names ("{user} has a dog named Biscuit"). Only what the messages say; nothing if they say nothing new. '
    "Importance from 1 (trivia) to 5 (life-changing). Answer with JSON only: "
    '{{"memories": [{{"kind": "fact", "content": "...", "importance": 3}}]}}'
)
# Generate text for a request as `user_id`; None if it was preempted or the model is unavailable.
Generate = Callable[[str, GenerationRequest], Awaitable[str | None]]


def queue_generator(models: ModelRegistry, queues: GenerationQueues) -> Generate:
    """Generation through the default model's queue as a background job: it runs only when no reply
    waits, and a reply preempts it (the answer is then None and the turn is tried again later)."""

    async def generate(user_id: str, request: GenerationRequest) -> str | None:
        try:
            model = models.default
        except Unavailable:
            return None
        job = queues.get(model).submit(user_id, request, background=True)
        pieces = [piece async for piece in job]
        return None if job.cancelled.is_set() else "".join(pieces)

    return generate


class Proposal(msgspec.Struct, frozen=True):
    kind: str
    content: str
    importance: int = 3


class _Proposals(msgspec.Struct):
    memories: list[Proposal] = msgspec.field(default_factory=list)


def extraction_request(turn: Turn, names: tuple[str, str]) -> GenerationRequest:
    user, char = names
    lines = []
    if turn.prompt:
        lines.append(f"{user}: {turn.prompt}")
    lines.append(f"{char}: {turn.reply}")
    return GenerationRequest(
        messages=(
            ChatMessage("system", INSTRUCTIONS.format(user=user, char=char)),
            ChatMessage("user", "Messages:\n" + "\n".join(lines)),
        ),
        params=SamplingParams(max_tokens=300, temperature=0.0, top_k=1, repeat_penalty=1.0),
        json_schema=EXTRACTION_SCHEMA,
    )


JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_proposals(text: str) -> list[Proposal] | None:
    """The proposals in the model's answer; None if it is not the JSON asked for (a model without schema
    support may wrap it in prose: the outermost object is taken)."""
    found = JSON_OBJECT.search(text or "")
    if found is None:
        return None
    try:
        raw = json.loads(found.group(0))
        proposals = msgspec.convert(raw, _Proposals, strict=False).memories
    except (ValueError, msgspec.ValidationError):
        return None
    cleaned = []
    for proposal in proposals[:MAX_PER_TURN]:
        content = " ".join(proposal.content.split())[:200]
        if proposal.kind in KINDS and content:
            cleaned.append(Proposal(proposal.kind, content, min(5, max(1, int(proposal.importance)))))
    return cleaned


@dataclass(frozen=True)
class Grounded:
    proposal: Proposal
    sources: list[str]  # message ids
    importance: float


SENTENCE = re.compile(r"(?<=[.!?])\s+")
# First-person words of a speaker's own message, as a memory about them says them ("I" handled apart).
FIRST_PERSON = {
    "i'm": "{name} is",
    "i've": "{name} has",
    "i'd": "{name} would",
    "i'll": "{name} will",
    "my": "{name}'s",
    "mine": "{name}'s",
    "me": "{name}",
    "myself": "{name}",
}
# After "I": words whose third-person form is not "+s" (modals, past tenses, adverbs: left as they are).
KEEP_VERB = frozenset(
    """can could will would shall should may might must am was were did had ran quit got went took bought grew met
    saw came began left lost found told said felt kept thought wrote drove spoke ate drank made gave sold
    never always often usually really just also still already recently finally sometimes""".split()
)
VERB_FORMS = {"am": "is", "have": "has", "do": "does", "go": "goes", "don't": "doesn't", "haven't": "hasn't"}


def third_person(sentence: str, name: str) -> str:
    """A memory in the first person (small models copy the speaker's own sentence: "I quit my job") said
    of the speaker by name, as the instructions ask: "Sam quit Sam's job" reads oddly but is unambiguous
    in a prompt where "I" would be the character."""
    tokens = sentence.split(" ")
    out: list[str] = []
    for n, token in enumerate(tokens):
        bare = token.rstrip(".,!?;:").lower()
        tail = token[len(token.rstrip(".,!?;:")) :]
        if bare in FIRST_PERSON:
            out.append(FIRST_PERSON[bare].format(name=name) + tail)
        elif bare == "i":
            out.append(name + tail)
            if n + 1 < len(tokens) and not tail:
                verb = tokens[n + 1]
                lowered = verb.lower()
                if lowered in VERB_FORMS:
                    tokens[n + 1] = VERB_FORMS[lowered]
                elif verb.isalpha() and verb.islower() and lowered not in KEEP_VERB and not lowered.endswith("ed"):
                    ends = ("s", "sh", "ch", "x", "z", "o")
                    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
                        tokens[n + 1] = verb[:-1] + "ies"
                    else:
                        tokens[n + 1] = verb + ("es" if verb.endswith(ends) else "s")
        else:
            out.append(token)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def _speaks_first_person(sentence: str) -> bool:
    return any(w.lower() in ("i", *FIRST_PERSON) for w in re.findall(r"[A-Za-z']+", sentence))


def ground(proposals: Sequence[Proposal], turn: Turn, names: tuple[str, str]) -> list[Grounded]:
    """The proposals the turn's messages support, each citing the message(s) that support it.

    Each sentence of a proposal is checked on its own: a small model often follows a true sentence with
    made-up ones ("Leah moved to Montreal. She loves the food and the people."), and repeats itself;
    the supported sentences up to the first that is not are kept, once each. A memory in the first person
    is put in the third, of whoever said it; one that names the character but rests on the user's message
    alone (which does not name the character) is about someone else ("Mira runs a ramen shop" from "My
    brother Theo runs a ramen shop") and is dropped.
    """
    messages = [(turn.prompt_id, turn.prompt, names[0]), (turn.reply_id, turn.reply, names[1])]
    messages = [(i, text, who) for i, text, who in messages if i and text]
    texts = [text for _, text, _ in messages]
    kept = []
    for proposal in proposals:
        sentences: list[str] = []
        sources: list[str] = []
        for sentence in dict.fromkeys(s.strip() for s in SENTENCE.split(proposal.content) if s.strip()):
            if not grounding.check(sentence, texts, names=names).kept:
                break  # what follows an invented sentence leans on it ("She loves the food there")
            alone = [(i, who, text) for i, text, who in messages if grounding.check(sentence, [text], names=names).kept]
            if _speaks_first_person(sentence) and len(alone) == 1:
                sentence = third_person(sentence, alone[0][1])
            if _about_the_character_from_the_user(sentence, alone, names):
                break
            sentences.append(sentence)
            sources += [str(i) for i, _, _ in alone] or [str(i) for i, _, _ in messages]
        if not sentences:
            continue
        content = " ".join(sentences)[:200]
        importance = 0.7 * (proposal.importance - 1) / 4 + 0.3 * KIND_PRIOR[proposal.kind]
        grounded = Proposal(proposal.kind, content, proposal.importance)
        kept.append(Grounded(grounded, list(dict.fromkeys(sources)), round(importance, 3)))
    return kept


def _about_the_character_from_the_user(
    sentence: str, alone: Sequence[tuple[Any, str, str]], names: tuple[str, str]
) -> bool:
    user, char = names
    named = {w.lower() for w in re.findall(r"[A-Za-z]+", sentence)}
    char_words = {w.lower() for w in re.findall(r"[A-Za-z]+", char)}
    user_words = {w.lower() for w in re.findall(r"[A-Za-z]+", user)}
    if not char_words or not (char_words & named) or (user_words & named):
        return False
    only_user = len(alone) == 1 and alone[0][1] == user
    return only_user and not (char_words & {w.lower() for w in re.findall(r"[A-Za-z]+", alone[0][2])})


@dataclass
class ExtractionJob:
    id: str
    conversation_id: str
    status: str = "queued"  # queued | running | done | failed
    turns_total: int = 0
    turns_done: int = 0
    proposed: int = 0
    kept: int = 0
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Extractor:
    def __init__(
        self,
        records: MemoryRecords,
        recall: RecallStore,
        embedder: Embedder,
        vectors: VectorSearch,
        generate: Generate,
        *,
        quiet_seconds: float = 20.0,
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self._last_activity: dict[str, float] = {}
        self.records = records
        self.recall = recall
        self.embedder = embedder
        self.vectors = vectors
        self.generate = generate
        self.jobs: dict[str, ExtractionJob] = {}
        self._queue: asyncio.Queue[tuple[str, str, list[str], ExtractionJob | None]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    # -- what starts extraction ---------------------------------------------------------------------

    def messages_changed(self, conversation_id: str, message_ids: Sequence[str] | None = None) -> None:
        """The chat listener: a stored reply gets its turn extracted (with a few earlier ones left over); an
        edited message loses what was extracted from it, and its turn is extracted again."""
        self._last_activity[conversation_id] = time.monotonic()
        if self._queue is not None and message_ids:
            self._queue.put_nowait(("", conversation_id, list(message_ids), None))

    async def _quiet(self, conversation_id: str) -> None:
        """Wait until the conversation has had no new message for `quiet_seconds`."""
        while (left := self._last_activity.get(conversation_id, 0.0) + self.quiet_seconds - time.monotonic()) > 0:
            await asyncio.sleep(left)
        self._last_activity.pop(conversation_id, None)

    def submit(self, user_id: str, conversation_id: str) -> ExtractionJob:
        """Every turn of the conversation not extracted yet, as a job one can follow."""
        job = ExtractionJob(id=new_id(), conversation_id=conversation_id)
        self.jobs[job.id] = job
        if self._queue is None:
            job.status, job.error = "failed", "extraction is not running"
            job.done.set()
        else:
            self._queue.put_nowait((user_id, conversation_id, [], job))
        return job

    # -- the worker -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            user_id, conversation_id, replies, job = await self._queue.get()
            try:
                await self._extract(user_id, conversation_id, replies, job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("memory extraction failed in conversation %s", conversation_id)
                if job is not None:
                    job.status, job.error = "failed", type(exc).__name__
            finally:
                if job is not None:
                    if job.status == "running":
                        job.status = "done"
                    job.done.set()

    async def _extract(self, user_id: str, conversation_id: str, replies: list[str], job: ExtractionJob | None) -> None:
        names = await self.recall.speaker_names(conversation_id)
        owner = await self.records.owner(conversation_id)
        if names is None or owner is None:
            return
        user_id = user_id or owner
        if job is None:
            await self._quiet(conversation_id)
            await self.records.forget_extracted_from(replies)  # edited messages; nothing for new ones
            # The turns these messages end (a stored reply) or belong to (an edited message): older ones
            # left over wait for an extraction job, so a live chat never queues a backlog.
            turns = await self.records.unextracted_turns(conversation_id, limit=AUTO_TURNS, touching=replies)
        else:
            job.status = "running"
            turns = await self.records.unextracted_turns(conversation_id, limit=100_000)
            job.turns_total = len(turns)
        for turn in turns:
            result = await self.extract_turn(user_id, conversation_id, turn, names)
            if result is None:  # preempted by a reply: the turn stays for later
                if job is not None:
                    job.error = "preempted; the rest of the turns wait for the next job"
                return
            if job is not None:
                job.turns_done += 1
                job.proposed += result[0]
                job.kept += result[1]

    async def extract_turn(
        self, user_id: str, conversation_id: str, turn: Turn, names: tuple[str, str]
    ) -> tuple[int, int] | None:
        """(proposed, kept) for one turn; None if the model did not answer (busy, preempted, missing)."""
        text = await self.generate(user_id, extraction_request(turn, names))
        if text is None:
            return None
        proposals = parse_proposals(text)
        kept = ground(proposals or [], turn, names)
        stored = [await self.remember(conversation_id, g, turn.created_at) for g in kept]
        await self.records.mark_extracted(
            conversation_id, turn.reply_id, proposed=len(proposals or []), kept=sum(1 for s in stored if s)
        )
        return len(proposals or []), sum(1 for s in stored if s)

    async def remember(self, conversation_id: str, grounded: Grounded, created_at: str) -> MemoryRecord | None:
        record = await self.records.add(
            conversation_id,
            kind=grounded.proposal.kind,
            content=grounded.proposal.content,
            importance=grounded.importance,
            source_message_ids=grounded.sources,
            origin="extracted",
        )
        if record is not None:
            await self.index(record, created_at)
            await self.recall.augment(grounded.sources, grounded.proposal.content)
        return record

    async def index(self, record: MemoryRecord, created_at: str | None = None) -> None:
        """Put a memory in the recall index (again, after an edit)."""
        await self.recall.forget_memory(record.id)
        vectors = await asyncio.to_thread(self.embedder.embed, [record.content])
        document = NewDocument(
            conversation_id=record.conversation_id,
            kind="memory",
            memory_id=record.id,
            content=record.content,
            importance=record.importance,
            created_at=created_at or record.created_at,
        )
        stored = await self.recall.add([document], vectors)
        self.vectors.removed(record.conversation_id)  # the old document went; the matrix reloads when needed
        del stored
