"""Who has a room open right now (the seed's Redis presence keys with a TTL, kept in process).

A person is present while at least one of their connections to the room (a WebSocket that joined it, an
open chat page's event stream) was heard from within `timeout` seconds: sockets refresh it with every
frame (clients ping), pages with their stream's keepalive. A connection that closes leaves at once; one
that goes silent (a laptop lid shut) times out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PRESENCE_TIMEOUT = 60.0  # seconds without a sign of life before a connection no longer counts


class PresenceTracker:
    def __init__(self, timeout: float = PRESENCE_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        # conversation id -> user id -> connection id -> when last heard from
        self._rooms: dict[str, dict[str, dict[str, float]]] = {}

    def connect(self, conversation_id: str, user_id: str, connection_id: str) -> bool:
        """A connection opened (or spoke); True if the person was not present before."""
        people = self._rooms.setdefault(conversation_id, {})
        arrived = not self._live(people.get(user_id, {}))
        people.setdefault(user_id, {})[connection_id] = self.clock()
        return arrived

    def touch(self, conversation_id: str, user_id: str, connection_id: str) -> bool:
        """A sign of life from a connection (the same as `connect`: a timed-out one comes back)."""
        return self.connect(conversation_id, user_id, connection_id)

    def disconnect(self, conversation_id: str, user_id: str, connection_id: str) -> bool:
        """A connection closed; True if that was the person's last one (they left)."""
        people = self._rooms.get(conversation_id, {})
        connections = people.get(user_id)
        if connections is None or connection_id not in connections:
            return False
        was_present = bool(self._live(connections))
        del connections[connection_id]
        self._forget_empty(conversation_id, user_id)
        return was_present and not self._live(connections)

    def drop(self, conversation_id: str, user_id: str) -> bool:
        """Every connection of a person to a room (they were removed from it); True if they were present."""
        connections = self._rooms.get(conversation_id, {}).pop(user_id, {})
        self._forget_empty(conversation_id, user_id)
        return bool(self._live(connections))

    def present(self, conversation_id: str) -> list[str]:
        """The people present, in the order they arrived."""
        return [user for user, connections in self._rooms.get(conversation_id, {}).items() if self._live(connections)]

    def expire(self) -> list[tuple[str, str]]:
        """Forget connections silent for longer than the timeout; (conversation, person) of those who left."""
        left = []
        now = self.clock()
        for conversation_id, people in list(self._rooms.items()):
            for user_id, connections in list(people.items()):
                stale = [c for c, seen in connections.items() if now - seen > self.timeout]
                for connection_id in stale:
                    del connections[connection_id]
                if stale and not connections:  # their last connection went silent: they left
                    left.append((conversation_id, user_id))
                self._forget_empty(conversation_id, user_id)
        return left

    @property
    def empty(self) -> bool:
        return not self._rooms

    def _live(self, connections: dict[str, float], now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        return [c for c, seen in connections.items() if now - seen <= self.timeout]

    def _forget_empty(self, conversation_id: str, user_id: str) -> None:
        people = self._rooms.get(conversation_id)
        if people is None:
            return
        if user_id in people and not people[user_id]:
            del people[user_id]
        if not people:
            del self._rooms[conversation_id]
