"""An utterance: text coming in (all at once, or piece by piece as a reply streams), audio going out
sentence by sentence, in order, as soon as each sentence is cut and synthesised.

A few sentences are synthesised ahead of the one being sent (`lookahead`), so the next is ready when
the listener finishes the current one, without queueing a whole long text at once: a stop then wastes
at most `lookahead` sentences of work, and the scheduler's turn-taking sees one user's text as a
trickle of small jobs.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bostonia.voice.cleanup import speakable
from bostonia.voice.engine import Speech, SpeechEngine, VoiceFile
from bostonia.voice.scheduler import FairScheduler
from bostonia.voice.sentences import SentenceCutter

LOOKAHEAD = 2


@dataclass(frozen=True)
class SpokenSentence:
    index: int  # 0, 1, 2, ... within the utterance
    text: str  # what was said (after cleanup)
    speech: Speech


class Utterance:
    def __init__(
        self,
        scheduler: FairScheduler,
        engine: SpeechEngine,
        *,
        owner: str,
        voice: VoiceFile,
        speed: float = 1.0,
        skip_actions: bool = False,
        max_sentence_chars: int = 240,
        lookahead: int = LOOKAHEAD,
        quick_start: bool = False,
    ) -> None:
        self.scheduler = scheduler
        self.engine = engine
        self.owner = owner
        self.voice = voice
        self.speed = speed
        self.lookahead = max(lookahead, 1)
        self.cancelled = False
        self.sentences_cut = 0
        self._cutter = SentenceCutter(skip_actions=skip_actions, max_chars=max_sentence_chars, quick_start=quick_start)
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._in_flight: deque[tuple[int, str, asyncio.Future[Speech]]] = deque()
        self._finished = False

    # -- the text side -------------------------------------------------------------------------------

    def feed(self, piece: str) -> None:
        if not (self._finished or self.cancelled):
            self._queue(self._cutter.feed(piece))

    def finish(self) -> None:
        """No more text: the rest of it is one last sentence."""
        if not (self._finished or self.cancelled):
            self._queue(self._cutter.finish())
            self._finished = True
            self._texts.put_nowait(None)

    def say(self, text: str) -> Utterance:
        self.feed(text)
        self.finish()
        return self

    def _queue(self, segments: list[str]) -> None:
        for segment in segments:
            if text := speakable(segment):
                self._texts.put_nowait(text)

    def cancel(self) -> None:
        """Stop: sentences not started are dropped, the one being synthesised is thrown away."""
        if self.cancelled:
            return
        self.cancelled = True
        for _index, _text, future in self._in_flight:
            future.cancel()
        self._texts.put_nowait(None)

    # -- the audio side ------------------------------------------------------------------------------

    def _submit(self, text: str) -> None:
        job = functools.partial(self.engine.synthesize, self.voice, text, self.speed)
        self._in_flight.append((self.sentences_cut, text, self.scheduler.submit(self.owner, job)))
        self.sentences_cut += 1

    async def __aiter__(self) -> AsyncIterator[SpokenSentence]:
        text_ended = False
        getter: asyncio.Task[str | None] | None = None  # the one reader of the text queue
        try:
            while not self.cancelled:
                if getter is None and not text_ended and len(self._in_flight) < self.lookahead:
                    getter = asyncio.ensure_future(self._texts.get())
                waits: set[asyncio.Future[Any]] = {getter} if getter is not None else set()
                if self._in_flight:
                    waits.add(self._in_flight[0][2])
                if not waits:
                    return  # all text spoken
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if getter is not None and getter.done():
                    text, getter = getter.result(), None
                    if text is None:
                        text_ended = True
                    elif not self.cancelled:
                        self._submit(text)
                    continue
                index, text, future = self._in_flight.popleft()
                if future.cancelled():
                    return
                yield SpokenSentence(index, text, future.result())
        finally:
            if getter is not None:
                getter.cancel()
            for _index, _text, pending in self._in_flight:
                pending.cancel()
            self._in_flight.clear()
