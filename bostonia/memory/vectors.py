"""Nearest neighbours within a conversation: sqlite-vec for small ones, an in-RAM matrix for long ones.

sqlite-vec's brute-force KNN reads every vector of the partition from its chunks: ≈ 45 ms for 100,000
vectors in one conversation on the dev machines, over the 20 ms budget. The same search as one numpy
matrix product takes ≈ 5 ms, so conversations past `IN_MEMORY_FROM` vectors are searched from a matrix
loaded once from the vec0 table (the durable copy) and kept in a bounded LRU; new vectors are appended
to a loaded matrix, and any deletion drops it (reloaded on the next search).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from bostonia.embeddings import Vectors
from bostonia.memory.store import RecallStore

IN_MEMORY_FROM = 5_000


@dataclass
class _Matrix:
    ids: np.ndarray
    vectors: Vectors

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.vectors.nbytes)


def _top(ids: np.ndarray, vectors: Vectors, vector: Vectors, k: int) -> dict[int, float]:
    similarities = vectors @ vector
    k = min(k, len(similarities))
    best = np.argpartition(-similarities, k - 1)[:k]
    return {int(ids[i]): float(similarities[i]) for i in best}


class VectorSearch:
    def __init__(self, store: RecallStore, *, cache_bytes: int) -> None:
        self.store = store
        self.cache_bytes = cache_bytes
        self._matrices: OrderedDict[str, _Matrix] = OrderedDict()
        self._sizes: dict[str, int] = {}  # vectors per conversation, as far as known
        self._lock = threading.Lock()

    async def nearest(self, conversation_id: str, vector: Vectors, k: int) -> dict[int, float]:
        """Document id -> cosine similarity of the `k` nearest documents of the conversation."""
        matrix = self._matrices.get(conversation_id)
        if matrix is None and self._sizes.get(conversation_id, IN_MEMORY_FROM) >= IN_MEMORY_FROM:
            matrix = await self._load(conversation_id)
        if matrix is None:
            return await self.store.knn(conversation_id, vector, k)
        with self._lock:
            self._matrices.move_to_end(conversation_id, last=True) if conversation_id in self._matrices else None
        if not len(matrix.ids):
            return {}
        # On a worker thread: ~5 ms of BLAS for 100,000 vectors, which would otherwise hold the event loop.
        return await asyncio.to_thread(_top, matrix.ids, matrix.vectors, np.asarray(vector, dtype=np.float32), k)

    async def _load(self, conversation_id: str) -> _Matrix | None:
        ids, vectors = await self.store.vectors(conversation_id)
        self._sizes[conversation_id] = len(ids)
        if len(ids) < IN_MEMORY_FROM:
            return None
        matrix = _Matrix(ids, np.ascontiguousarray(vectors))
        if matrix.nbytes > self.cache_bytes:
            return None  # too large to keep: sqlite-vec it is
        with self._lock:
            self._matrices[conversation_id] = matrix
            while sum(m.nbytes for m in self._matrices.values()) > self.cache_bytes:
                self._matrices.popitem(last=False)
        return matrix

    def added(self, conversation_id: str, ids: list[int], vectors: Vectors) -> None:
        """New documents were stored: extend the conversation's matrix if it is loaded."""
        self._sizes[conversation_id] = self._sizes.get(conversation_id, 0) + len(ids)
        with self._lock:
            matrix = self._matrices.get(conversation_id)
            if matrix is not None and ids:
                matrix.ids = np.concatenate([matrix.ids, np.asarray(ids, dtype=np.int64)])
                matrix.vectors = np.concatenate([matrix.vectors, np.asarray(vectors, dtype=np.float32)])

    def removed(self, conversation_id: str) -> None:
        """Documents were deleted: the matrix is stale."""
        with self._lock:
            self._matrices.pop(conversation_id, None)
            self._sizes.pop(conversation_id, None)
