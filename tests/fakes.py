"""Scriptable stand-ins for models, for unit and integration tests of the logic around them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from bostonia.llm.base import ChatMessage, GenerationRequest, SamplingParams
from bostonia.plugin_api import hookimpl


class ScriptedModel:
    """Replies with queued scripts, piece by piece; records every request it was given."""

    def __init__(self, model_id: str = "scripted", context_size: int = 2048, delay: float = 0.0) -> None:
        self.model_id = model_id
        self.context_size = context_size
        self.delay = delay
        self.requests: list[GenerationRequest] = []
        # A script: the pieces of one reply (an exception among them fails the reply there), or an exception.
        self._scripts: list[list[str | BaseException] | BaseException] = []
        self.gate: threading.Event | None = None  # when set, generation waits for it after the first piece
        self.default_reply = ["Hello", " from", " the", " scripted", " model."]

    def enqueue(self, *scripts: list[str | BaseException] | BaseException) -> None:
        self._scripts.extend(scripts)

    def hold(self) -> threading.Event:
        """Make the next replies wait (after their first piece) until the returned event is set."""
        self.gate = threading.Event()
        return self.gate

    @property
    def replies(self) -> list[GenerationRequest]:
        """The requests that asked for text (not the cache warm-ups)."""
        return [request for request in self.requests if not request.prefill_only]

    @property
    def prompts(self) -> list[list[ChatMessage]]:
        return [list(request.messages) for request in self.replies]

    @property
    def params(self) -> list[SamplingParams]:
        return [request.params for request in self.replies]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        self.requests.append(request)
        if request.prefill_only:
            return
        script: list[str | BaseException] | BaseException
        script = self._scripts.pop(0) if self._scripts else list(self.default_reply)
        if isinstance(script, BaseException):
            raise script
        for index, piece in enumerate(script):
            if should_stop():
                return
            if isinstance(piece, BaseException):
                raise piece
            yield piece
            gate = self.gate  # read once: a test may clear it meanwhile
            if index == 0 and gate is not None:
                while not gate.wait(0.01):
                    if should_stop():
                        return
            if self.delay:
                time.sleep(self.delay)


class ModelPlugin:
    """Registers the given models through the same hook real providers use."""

    def __init__(self, *models: object) -> None:
        self.models = models

    @hookimpl
    def register_models(self, register, settings):  # type: ignore[no-untyped-def]
        for model in self.models:
            register(model)
