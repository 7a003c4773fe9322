"""What a reply asks of content moderation, as an interface the app fills in (bostonia.moderation.guard).

Chat knows nothing about how text is judged: it asks before a user's message is stored and sent to the
model, and it lets a watcher follow a reply as it streams. Without a guard (`OpenGuard`) everything passes.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from bostonia.characters.schemas import Character
from bostonia.chat.schemas import Conversation
from bostonia.identity import User


class OutputVerdict(NamedTuple):
    blocked: bool
    reason: str = ""  # shown to the user when a reply is withdrawn
    replacement: str = ""  # what to store instead, when regenerating did not give an allowed reply


class ReplyWatch(Protocol):
    """Follows one generation attempt of a reply."""

    def feed(self, piece: str) -> int | None:
        """The next streamed text (a burst of pieces). None while the reply may go on; once it is known to be
        blocked, how many characters of `piece` came before what broke the rules: show those, stop generating."""
        ...

    async def finish(self, text: str) -> OutputVerdict:
        """The attempt ended with `text` (cleaned): the final word on it."""
        ...


class ContentGuard(Protocol):
    async def check_input(self, user: User, conversation: Conversation, character: Character, text: str) -> None:
        """Raise a domain error (4xx) if `text` may not be sent in this conversation; nothing is stored then."""
        ...

    def watch_reply(
        self, user: User, conversation: Conversation, character: Character, message_id: str, attempt: int
    ) -> ReplyWatch:
        """A watcher for one attempt at the reply `message_id` (attempt 0, then 1, ... after a retraction)."""
        ...


class _PassingWatch:
    def feed(self, piece: str) -> int | None:
        return None

    async def finish(self, text: str) -> OutputVerdict:
        return OutputVerdict(False)


class OpenGuard:
    """No moderation: every message and reply passes."""

    async def check_input(self, user: User, conversation: Conversation, character: Character, text: str) -> None:
        return None

    def watch_reply(
        self, user: User, conversation: Conversation, character: Character, message_id: str, attempt: int
    ) -> ReplyWatch:
        return _PassingWatch()
