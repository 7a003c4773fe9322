"""What the server is still loading after it started (the chat model, the moderation models): `/ready`
answers 503 "warming" until they are loaded, so a load balancer or a script waits for a server whose first
message will not sit behind a model load. A load that fails is logged and no longer waited for (the
feature that needs it reports its own error)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

log = logging.getLogger(__name__)
Loading = asyncio.Future[Any] | concurrent.futures.Future[Any]


class WarmUp:
    def __init__(self) -> None:
        self._loading: dict[str, Loading] = {}

    def track(self, name: str, loading: Loading) -> None:
        """`loading` (a task or an executor future) loads `name` in the background."""
        self._loading[name] = loading
        loading.add_done_callback(lambda done: self._finished(name, done))

    def _finished(self, name: str, done: Loading) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("loading %s failed", name, exc_info=done.exception())

    def pending(self) -> list[str]:
        """What is still loading, in the order it was started."""
        return [name for name, loading in self._loading.items() if not loading.done()]
