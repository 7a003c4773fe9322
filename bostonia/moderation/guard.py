"""Moderation applied in chat (chat's `ContentGuard`): user messages before they are stored, replies as
they stream.

A conversation's tier is the lower of what the viewer may see (sfw unless they verified their age and
chose more) and the character's content tier. A message that needs a higher tier is refused with a 422
`content_blocked` and never reaches the model. A reply streams token by token as usual; meanwhile every
piece is run through the word lists at once (microseconds: an explicit phrase stops the model right
there), and each finished sentence gets the full check on the moderation thread. When a reply breaks the
tier, generation stops, a `message:stream:retract` event tells clients to drop what was shown, and the
reply is generated once more; if that one breaks it too, a short notice is stored in its place. Content no
tier allows (sexual content involving minors, hate, illegal instructions) also goes to the admin queue.
Every decision is logged (moderation_decisions) with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import re

from bostonia.characters.schemas import Character
from bostonia.characters.service import allowed_content_tiers
from bostonia.chat.guard import OutputVerdict
from bostonia.chat.schemas import Conversation
from bostonia.errors import InvalidInput
from bostonia.identity import CONTENT_TIERS, ContentTier, User
from bostonia.moderation.moderator import tier_at_most
from bostonia.moderation.schemas import CATEGORIES, CATEGORY_TIER, Category, Signal, TextVerdict
from bostonia.moderation.service import ModerationService
from bostonia.moderation.store import DecisionRecord

log = logging.getLogger(__name__)
WHITESPACE = re.compile(r"\s+")
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)*\]]*\s+|\n+")
CONTEXT_CHARS = 1500
MIN_WORDS = 12
MAX_WORDS = 40
# The word lists look at the end of the unchecked text on every piece: the longest pattern spans about
# 100 characters.
QUICK_CHARS = 200
LABELS = {
    "sexual": "sexual",
    "sexual_minors": "sexual content involving minors",
    "violence": "graphic violence",
    "self_harm": "self-harm",
    "harassment": "harassment",
    "hate": "hateful",
    "illegal": "illegal-activity",
}
SELF_HARM_HELP = (
    " If you are thinking about harming yourself, please reach out to someone you trust or a local crisis line."
)
RULES_ONLY: tuple[Signal, ...] = ("rules",)
REPLACEMENT = "*(This reply was withheld: it broke this chat's content rules.)*"


def conversation_tier(user: User, character: Character) -> ContentTier:
    viewer: ContentTier = allowed_content_tiers(user)[-1]  # type: ignore[assignment]
    return tier_at_most(viewer, character.content_tier)


def breaking(verdict: TextVerdict, tier: ContentTier) -> list[Category]:
    """The flagged categories the tier does not allow."""
    found = []
    for category in CATEGORIES:
        needed = CATEGORY_TIER[category]
        if verdict.categories.get(category) and (
            needed is None or CONTENT_TIERS.index(needed) > CONTENT_TIERS.index(tier)
        ):
            found.append(category)
    return found


def never_allowed(categories: list[Category]) -> list[Category]:
    return [c for c in categories if CATEGORY_TIER[c] is None]


def describe(categories: list[Category]) -> str:
    return ", ".join(LABELS.get(c, c) for c in categories)


class ChatGuard:
    def __init__(self, moderation: ModerationService, *, check_output: bool = True) -> None:
        self.moderation = moderation
        self.check_output = check_output

    async def check_input(self, user: User, conversation: Conversation, character: Character, text: str) -> None:
        tier = conversation_tier(user, character)
        verdict = await self.moderation.check(text)
        broken = breaking(verdict, tier)
        if not broken:
            if verdict.flagged:  # allowed here (e.g. adult content in an adult chat): logged without the text
                await self.log(verdict, "input", "allowed", tier, user, conversation, "allowed by the chat's tier")
            return
        always = never_allowed(broken)
        where = "here" if always else f"in this chat (content tier: {tier})"
        message = f"Your message was not sent: it looks like {describe(broken)} content, which is not allowed {where}."
        if "self_harm" in broken:
            message += SELF_HARM_HELP
        await self.log(verdict, "input", "blocked", tier, user, conversation, message, excerpt=text)
        if always:
            await self.moderation.flag(
                target_type="text",
                reason=f"blocked message: {describe(always)}",
                categories=always,
                text=text,
                subject_user_id=user.id,
                conversation_id=conversation.id,
                character_id=conversation.character_id,
            )
        raise InvalidInput(message, code="content_blocked", details={"categories": broken, "tier": tier})

    def watch_reply(
        self, user: User, conversation: Conversation, character: Character, message_id: str, attempt: int
    ) -> OutputWatch:
        return OutputWatch(self, user, conversation, character, message_id, attempt)

    async def log(
        self,
        verdict: TextVerdict,
        direction: str,
        outcome: str,
        tier: ContentTier,
        user: User,
        conversation: Conversation,
        reason: str,
        *,
        message_id: str | None = None,
        excerpt: str = "",
    ) -> None:
        await self.moderation.record(
            DecisionRecord(
                direction=direction,
                outcome=outcome,
                reason=reason + ("" if not verdict.reasons else " — " + "; ".join(verdict.reasons[:5])),
                tier=tier,
                categories=[c for c, on in verdict.categories.items() if on],
                scores={c: s for c, s in verdict.scores.items() if s > 0},
                user_id=user.id,
                conversation_id=conversation.id,
                character_id=conversation.character_id,
                message_id=message_id,
                excerpt=excerpt,
            )
        )


class OutputWatch:
    """Follows one attempt at a reply: rules on every piece, the full check per finished sentence."""

    def __init__(
        self,
        guard: ChatGuard,
        user: User,
        conversation: Conversation,
        character: Character,
        message_id: str,
        attempt: int,
    ) -> None:
        self.guard = guard
        self.user = user
        self.conversation = conversation
        self.message_id = message_id
        self.attempt = attempt
        self.tier = conversation_tier(user, character)
        self.creator_id = character.creator_id  # a reply is its character's doing: its creator answers for it
        self.enabled = guard.check_output
        self.text = ""
        self.checked = 0  # text[:checked] has been (or is being) fully checked
        self._context, self._context_at = "", 0  # what precedes text[checked:] (the same string until it moves)
        self.blocked: TextVerdict | None = None
        self._task: asyncio.Task[None] | None = None

    def feed(self, piece: str) -> int | None:
        if not self.enabled:
            return None
        if self.blocked is not None:
            return 0
        begin = len(self.text)
        self.text += piece
        # The word lists alone, at once (a fraction of a millisecond, so on the event loop): an explicit
        # phrase stops the model right there instead of at the end of its sentence.
        quick = self._quick(len(self.text))
        if breaking(quick, self.tier):
            self.blocked = quick
            # A burst of pieces can go on past the phrase: what it has before the word that completed it is shown.
            shown = 0
            for space in WHITESPACE.finditer(piece):
                if breaking(self._quick(begin + space.start()), self.tier):
                    break
                shown = space.start()
            return shown
        if self._task is None or self._task.done():
            boundary = self._last_boundary()
            # Whole sentences, at least MIN_WORDS of them together: a lone "Go away." says too little to judge.
            if boundary > self.checked and len(self.text[self.checked : boundary].split()) >= MIN_WORDS:
                start, self.checked = self.checked, boundary
                self._task = asyncio.create_task(self._check(start, boundary))
        return None

    def _quick(self, end: int) -> TextVerdict:
        """The word lists on the unchecked text up to `end`. This runs for every burst while the model decodes
        on the same cores, so it reads a short window, and the context before it stays the same string
        (normalized once) until a sentence check moves it: a 400-character window with the context
        normalized every time took a tenth of a lone stream's speed on two cores."""
        if self._context_at != self.checked:
            self._context, self._context_at = self.text[: self.checked][-CONTEXT_CHARS:], self.checked
        window = self.text[self.checked : end][-QUICK_CHARS:]
        return self.guard.moderation.moderator.check(window, self._context, signals=RULES_ONLY)

    def _last_boundary(self) -> int:
        ends = [m.end() for m in SENTENCE_END.finditer(self.text, self.checked)]
        if ends:
            return ends[-1]
        # A reply that never ends a sentence is still checked, at the last space, every MAX_WORDS words.
        pending = self.text[self.checked :]
        if len(pending.split()) >= MAX_WORDS and (space := pending.rfind(" ")) > 0:
            return self.checked + space + 1
        return self.checked

    async def _check(self, start: int, end: int) -> None:
        verdict = await self.guard.moderation.check(self.text[start:end], self.text[:start][-CONTEXT_CHARS:])
        if self.blocked is None and breaking(verdict, self.tier):
            self.blocked = verdict

    async def finish(self, text: str) -> OutputVerdict:
        if not self.enabled:
            return OutputVerdict(False)
        if self._task is not None:
            await self._task
        if self.blocked is None and self.checked < len(self.text):
            await self._check(self.checked, len(self.text))
        if self.blocked is None and self.text.count(" ") > 25:  # a long reply is also judged as a whole
            verdict = await self.guard.moderation.check(text)
            if breaking(verdict, self.tier):
                self.blocked = verdict
        if self.blocked is None:
            return OutputVerdict(False)
        broken = breaking(self.blocked, self.tier)
        reason = f"The reply was withdrawn: it looked like {describe(broken)} content, not allowed in this chat."
        outcome = "retracted" if self.attempt == 0 else "replaced"
        await self.guard.log(
            self.blocked,
            "output",
            outcome,
            self.tier,
            self.user,
            self.conversation,
            reason,
            message_id=self.message_id,
            excerpt=self.text,
        )
        always = never_allowed(broken)
        if always:
            await self.guard.moderation.flag(
                target_type="message",
                reason=f"withdrawn reply: {describe(always)}",
                categories=always,
                text=self.text,
                subject_user_id=self.creator_id,
                conversation_id=self.conversation.id,
                character_id=self.conversation.character_id,
                message_id=self.message_id,
            )
        return OutputVerdict(True, reason, REPLACEMENT)
