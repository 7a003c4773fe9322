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
    ) -> None:
        self.scheduler = scheduler
        self.engine = engine
        self.owner = owner
        self.voice = voice
        self.speed = speed
        self.lookahead = max(lookahead, 1)
        self.cancelled = False
        self.sentences_cut = 0
        self._cutter = SentenceCutter(skip_actions=skip_actions, max_chars=max_sentence_chars)
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
        waiting_for_text: asyncio.Task[str | None] | None = None
        try:
            while not self.cancelled:
                # Keep up to `lookahead` sentences queued for synthesis, taking whatever text is ready.
                while not text_ended and len(self._in_flight) < self.lookahead and not self._texts.empty():
                    text = self._texts.get_nowait()
                    if text is None:
                        text_ended = True
                    else:
                        self._submit(text)
                if not self._in_flight:
                    if text_ended:
                        return
                    text = await self._texts.get()  # nothing to synthesise: wait for the next sentence
                    if text is None:
                        text_ended = True
                    else:
                        self._submit(text)
                    continue
                index, text, future = self._in_flight[0]
                if not text_ended and len(self._in_flight) < self.lookahead:
                    # While this sentence is synthesised, take the next one as soon as it is cut.
                    if waiting_for_text is None:
                        waiting_for_text = asyncio.ensure_future(self._texts.get())
                    waits: set[asyncio.Future[Any]] = {future, waiting_for_text}
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if waiting_for_text.done():
                        next_text = waiting_for_text.result()
                        waiting_for_text = None
                        if next_text is None:
                            text_ended = True
                        elif not self.cancelled:
                            self._submit(next_text)
                    if not future.done():
                        continue
                try:
                    speech = await future
                except asyncio.CancelledError:
                    if self.cancelled:
                        return
                    raise
                self._in_flight.popleft()
                if self.cancelled:
                    return
                yield SpokenSentence(index, text, speech)
        finally:
            if waiting_for_text is not None:
                waiting_for_text.cancel()
            for _index, _text, pending in self._in_flight:
                pending.cancel()
            self._in_flight.clear()
