"""In-process fan-out of conversation events to every open socket and page (Redis pub/sub's job in the
seed architecture; one process needs no broker).

A subscriber is one browser tab or WebSocket. Publishing never blocks: each subscriber has its own
queue, bounded so that a stalled client cannot make the server hoard memory (it is dropped instead).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from bostonia.chat.events import ChatEvent

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000
_CLOSED = ChatEvent("_closed", None)


class Subscription:
    def __init__(
        self, hub: ConversationHub, conversation_id: str, client_id: str | None, user_id: str | None = None
    ) -> None:
        self.hub = hub
        self.conversation_id = conversation_id
        self.client_id = client_id  # events published by this client are not echoed back to it
        self.user_id = user_id  # whose it is: someone removed from a shared room is cut off
        self.queue: asyncio.Queue[ChatEvent] = asyncio.Queue(QUEUE_LIMIT)

    def deliver(self, event: ChatEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("dropping a stalled subscriber of conversation %s", self.conversation_id)
            self.hub.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[ChatEvent]:
        while True:
            event = await self.queue.get()
            if event is _CLOSED:
                return
            yield event

    def close(self) -> None:
        self.hub.unsubscribe(self)


class ConversationHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, conversation_id: str, client_id: str | None = None, user_id: str | None = None) -> Subscription:
        subscription = Subscription(self, conversation_id, client_id, user_id)
        self._subscribers[conversation_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.conversation_id)
        if subscribers and subscription in subscribers:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.conversation_id]
            if subscription.queue.full():  # a stalled reader: what it missed no longer matters
                while not subscription.queue.empty():
                    subscription.queue.get_nowait()
            subscription.queue.put_nowait(_CLOSED)

    def publish(self, conversation_id: str, event: ChatEvent, *, sender: str | None = None) -> None:
        for subscription in list(self._subscribers.get(conversation_id, ())):
            if sender is None or subscription.client_id != sender:
                subscription.deliver(event)

    def drop_user(self, conversation_id: str, user_id: str, farewell: ChatEvent | None = None) -> int:
        """End every subscription `user_id` holds to the conversation (removed from a shared room): each
        gets `farewell` last, then closes. Returns how many there were."""
        dropped = [s for s in self._subscribers.get(conversation_id, ()) if s.user_id == user_id]
        for subscription in dropped:
            if farewell is not None:
                subscription.deliver(farewell)
            self.unsubscribe(subscription)
        return len(dropped)

    def close(self) -> None:
        """End every subscription (server shutdown), so open streams finish instead of hanging."""
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                self.unsubscribe(subscription)
