"""Vector activation: entries whose content is close to the recent chat in embedding space.

SillyTavern's Vector Storage rules: only entries marked `vectorized` take part (or every entry, with
"enabled for all entries"); the query is the last `vector_query_messages` messages, not the scan depth;
at most `vector_max_entries` entries, each at least `vector_threshold` similar (cosine); a vector match
only replaces the keyword check, so groups, probability, timed effects and the budget still apply.

The embedding model comes from outside (`Embedder`: the memory capability provides one); entry
embeddings are cached by content, so each entry is embedded once per process, and embedding runs on a
worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from bostonia.lore.compiled import CompiledEntry
from bostonia.lore.schemas import LoreSettings

CACHE_SIZE = 20_000
MAX_QUERY_CHARS = 4_000


class Embedder(Protocol):
    """Turns texts into vectors (one per text, all the same length)."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=False))


class VectorMatcher:
    def __init__(self, embedder: Embedder, cache_size: int = CACHE_SIZE) -> None:
        self.embedder = embedder
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._size = cache_size

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def _similar(self, entries: list[CompiledEntry], query: str) -> dict[str, float]:
        missing = list(dict.fromkeys(e.content for e in entries if self._key(e.content) not in self._cache))
        vectors = self.embedder.embed([query, *missing])
        query_vector = _unit(vectors[0])
        for text, vector in zip(missing, vectors[1:], strict=True):
            self._cache[self._key(text)] = _unit(vector)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return {e.id: _dot(query_vector, self._cache[self._key(e.content)]) for e in entries}

    async def hits(
        self, entries: Sequence[CompiledEntry], recent: Sequence[str], settings: LoreSettings
    ) -> dict[str, float]:
        """Entry id -> similarity, for the closest entries above the threshold."""
        candidates = [
            e for e in entries if e.content and not e.constant and (e.vectorized or settings.vector_all_entries)
        ]
        query = "\n".join(recent[-settings.vector_query_messages :])[-MAX_QUERY_CHARS:]
        if not candidates or not query.strip():
            return {}
        scores = await asyncio.to_thread(self._similar, candidates, query)
        ranked = sorted(
            ((score, entry_id) for entry_id, score in scores.items() if score >= settings.vector_threshold),
            reverse=True,
        )
        return {entry_id: round(score, 4) for score, entry_id in ranked[: settings.vector_max_entries]}
