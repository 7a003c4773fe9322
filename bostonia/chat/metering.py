"""What a reply tells analytics: one `message_sent` event per stored reply (model, tokens, response time).

Charging is the orchestrator's (`bostonia.orchestration`): it asks the accounting policy before every
generation, records each attempt's usage, and charges the one that produced the kept reply.
"""

from __future__ import annotations

import time

from bostonia.analytics.recorder import DiscardingSink, EventSink
from bostonia.chat.schemas import Conversation
from bostonia.identity import User


class ReplyMeter:
    def __init__(self, analytics: EventSink | None = None) -> None:
        self.analytics: EventSink = analytics or DiscardingSink()

    def replied(self, user: User, conversation: Conversation, model_id: str, tokens: int, started: float) -> None:
        self.analytics.record(
            "message_sent",
            user_id=user.id,
            character_id=conversation.character_id,
            sender="character",
            response_ms=round((time.monotonic() - started) * 1000),
            model=model_id,
            tokens=tokens,
        )
