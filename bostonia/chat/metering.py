"""What a reply costs and tells: the accounting policy is asked before every generation and told after
each one that produced a reply (never a failed one); analytics hears of each reply.

This is the minimal call site of billing's `AccountingPolicy` until the orchestration capability, which
owns model routing, prices and usage rows, makes these calls around its generations.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bostonia.analytics.recorder import DiscardingSink, EventSink
from bostonia.billing.accounting import AccountingPolicy, FreeModels, OpenPolicy, PriceList, Usage
from bostonia.chat.schemas import Conversation, Message
from bostonia.identity import User
from bostonia.llm.base import ChatModel

log = logging.getLogger(__name__)


class ReplyMeter:
    def __init__(
        self,
        accounting: AccountingPolicy | None = None,
        prices: PriceList | None = None,
        analytics: EventSink | None = None,
    ) -> None:
        self.accounting: AccountingPolicy = accounting or OpenPolicy()
        self.prices: PriceList = prices or FreeModels()
        self.analytics: EventSink = analytics or DiscardingSink()

    async def admit(self, user: User, model: ChatModel) -> None:
        """Before anything of a generation is stored: raises (402, 403) when the plan or balance refuse it."""
        await self.accounting.before_generation(user, model.model_id)

    async def failed(self, user: User, model: ChatModel) -> None:
        """A generation ended without a reply: nothing is charged; a policy that holds an estimate frees it."""
        release = getattr(self.accounting, "generation_failed", None)
        if release is not None:
            await release(user, model.model_id)

    async def charge(
        self,
        user: User,
        conversation: Conversation,
        model: ChatModel,
        tokens_in: int,
        message: Message,
        content: str,
        started: float,
    ) -> None:
        tokens_out = await asyncio.to_thread(model.count_tokens, content)
        usage = Usage(
            user_id=user.id,
            conversation_id=conversation.id,
            message_id=message.id,
            model_id=model.model_id,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_micros=self.prices.cost_micros(model.model_id, tokens_in, tokens_out),
            status=message.status,
        )
        try:
            await self.accounting.after_generation(user, usage)
        except Exception:  # the reply is stored and shown: a failed charge is logged, not turned into an error
            log.exception("charging for reply %s failed", message.id)
        self.analytics.record(
            "message_sent",
            user_id=user.id,
            character_id=conversation.character_id,
            sender="character",
            response_ms=round((time.monotonic() - started) * 1000),
            model=model.model_id,
            tokens=tokens_out,
        )
