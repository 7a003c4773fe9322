"""The parts of a reply's prompt that depend on who speaks and who else is in the chat (pure assembly).

A one-to-one chat (one character, one person) is prompted exactly as before: the character's card, the
person's persona, plain history. Once a chat has several characters or several people, every history
line carries its speaker's name (`Ann: ...`), rendered the same whoever speaks next so the cached prompt
prefix stays valid (see `bostonia/prompt/group.py` for how *swap* and *join* keep it); the reply is
started as the speaker's line (`Ann:`, which the model continues), and stop strings end it when the
model starts a line for anyone else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bostonia.chat.schemas import Conversation, Message
from bostonia.llm.base import ChatMessage
from bostonia.prompt.builder import BuiltPrompt, Card, Persona, PromptSection
from bostonia.prompt.group import joined_card, names_list, swap_card
from bostonia.prompt.macros import MacroContext
from bostonia.prompt.reasoning import without_reasoning


@dataclass(frozen=True)
class CastCard:
    """A member of the chat's cast: its id, its card, whether the group muted it."""

    character_id: str
    card: Card
    muted: bool = False


@dataclass(frozen=True)
class Stage:
    """How the next reply's prompt is made for one speaker."""

    card: Card
    macros: MacroContext
    persona: Persona | None
    session: str  # the model session whose KV cache this prompt continues
    stop: tuple[str, ...]
    system_macros: MacroContext | None = None
    prefill: str = ""  # the reply starts as this assistant text (the speaker's name), continued by the model
    names: dict[str, str] = field(default_factory=dict)  # character id -> name, for history lines
    people: dict[str, str] = field(default_factory=dict)  # user id -> persona name, for history lines
    default_person: str = ""

    @property
    def named(self) -> bool:
        return bool(self.prefill)

    def history(self, messages: Sequence[Message]) -> list[ChatMessage]:
        """The chat as the model reads it: out-of-character messages and replies' thinking left out, names on
        every line."""
        return [
            self.line(m.role, without_reasoning(m.content) if m.role == "assistant" else m.content, self.speaker_of(m))
            for m in messages
            if not m.ooc
        ]

    def line(self, role: str, content: str, name: str | None = None) -> ChatMessage:
        if not self.named or role == "system" or not name:
            return ChatMessage(role, content)  # type: ignore[arg-type]
        return ChatMessage(role, f"{name}: {content}")  # type: ignore[arg-type]

    def speaker_of(self, message: Message) -> str | None:
        if message.role == "assistant":
            return self.names.get(message.character_id or "") or message.speaker_name or self.card.name
        if message.role == "user":
            return message.speaker_name or self.people.get(message.user_id or "") or self.default_person
        return None

    def finish(self, prompt: BuiltPrompt, count_tokens: Callable[[str], int]) -> BuiltPrompt:
        """Start the reply as the speaker's line: the model continues `Name:` (see `prefill`)."""
        if self.prefill:
            prompt.messages.append(ChatMessage("assistant", self.prefill))
            tokens = count_tokens(self.prefill)
            prompt.sections.append(PromptSection(name="speaker", role="assistant", content=self.prefill, tokens=tokens))
            prompt.ends_in_reply = True
        return prompt


@dataclass(frozen=True)
class RoomPerson:
    user_id: str
    persona: Persona


def stage_for(
    conversation: Conversation,
    speaker: CastCard,
    cast: Sequence[CastCard],
    people: Sequence[RoomPerson],
    sender: Persona,
    *,
    last_user_message_at: datetime | None = None,
) -> Stage:
    """The stage of `speaker`'s next reply. `cast`: every member in list order; `people`: the owner and
    the members of a shared room; `sender`: the persona of the person the reply is for."""
    seed = conversation.id
    if not conversation.is_group and len(cast) <= 1 and len(people) <= 1:
        return Stage(
            card=speaker.card,
            macros=MacroContext(
                char=speaker.card.name, user=sender.name, seed=seed, last_user_message_at=last_user_message_at
            ),
            persona=sender,
            session=conversation.id,
            stop=(f"\n{sender.name}:", "\nUser:"),
        )
    person_names = [p.persona.name for p in people] or [sender.name]
    user = names_list(person_names) if len(people) > 1 else sender.name
    member_names = [member.card.name for member in cast]
    group = names_list(member_names)
    not_muted = names_list([member.card.name for member in cast if not member.muted])
    about = [f"{p.persona.name}: {p.persona.description.strip()}" for p in people if p.persona.description.strip()]
    people_text = "About the people here:\n" + "\n".join(about) if len(people) > 1 and about else ""
    persona = None if len(people) > 1 else sender

    def macros(char: str) -> MacroContext:
        return MacroContext(
            char=char,
            user=user,
            seed=seed,
            last_user_message_at=last_user_message_at,
            group=group,
            group_not_muted=not_muted,
            not_char=names_list([name for name in member_names if name != char] + person_names),
        )

    system_macros = None
    if conversation.card_mode == "join":
        shown = [member.card for member in cast if conversation.include_muted or not member.muted]
        card: Card = joined_card(
            shown or [speaker.card],
            speaker.card,
            macros_for=lambda c: macros(c.name),
            scenario=conversation.scenario,
            people=people_text,
        )
        session = session_for(conversation, speaker.character_id)
        system_macros = MacroContext(char=group, user=user, seed=seed, group=group, group_not_muted=not_muted)
    else:
        card = swap_card(speaker.card, scenario=conversation.scenario, people=people_text)
        session = session_for(conversation, speaker.character_id)
    return Stage(
        card=card,
        macros=macros(speaker.card.name),
        system_macros=system_macros,
        persona=persona,
        session=session,
        stop=stop_strings(speaker.card.name, [*member_names, *person_names]),
        prefill=f"{speaker.card.name}:",
        names={member.character_id: member.card.name for member in cast},
        people={p.user_id: p.persona.name for p in people},
        default_person=sender.name,
    )


def session_for(conversation: Conversation, character_id: str) -> str:
    """The model session a speaker's prompts continue: the conversation's, except in a swap-mode group,
    where each speaker's prompt starts with its own card and so keeps its own cache (`<id>:<character>`)."""
    if conversation.is_group and conversation.card_mode == "swap":
        return speaker_session(conversation.id, character_id)
    return conversation.id


def speaker_session(conversation_id: str, character_id: str) -> str:
    return f"{conversation_id}:{character_id}"


def parse_time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def stop_strings(speaker: str, everyone: Sequence[str]) -> tuple[str, ...]:
    """End a reply where the model starts a line for someone else (their name or first name, then ':')."""
    own = {speaker.lower(), *speaker.lower().split()}
    stops: list[str] = []
    for name in everyone:
        if name == speaker:
            continue
        for variant in (name, name.split()[0] if name.split() else name):
            if variant and variant.lower() not in own and f"\n{variant}:" not in stops:
                stops.append(f"\n{variant}:")
    return (*stops, "\nUser:")
