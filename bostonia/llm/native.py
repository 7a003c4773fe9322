"""Thin wrappers over llama.cpp's own C API (`llama_cpp.llama_cpp`): a loaded model and its vocabulary, one
context holding several sequences (a KV stream each) with the batch fed to it, per-sequence state, and
per-sequence sampler chains (grammar included).

`llama_cpp` is imported on first use only. Everything here is blocking; tokenization is safe from any thread
(it reads the vocabulary only), the rest runs on the model's scheduler thread.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bostonia.llm.base import SamplingParams

log = logging.getLogger(__name__)
llama_log = logging.getLogger("llama.cpp")

PENALTY_LAST_N = 64  # tokens the repeat penalty looks back over (llama-cpp-python's default too)
# Rows per micro-batch (llama_decode splits a batch into these). Chosen when the context used ggml's flash
# attention: below its tile (64 query rows) every row's attention is computed alone, in its own cells' order,
# so a sequence's numbers - and its greedy text - do not change with what else is in the batch (the tiled
# kernel mixes rows; measured to change greedy text after ~20 tokens). Kept with plain attention (see
# NativeContext) as a margin: for prompt reading on a CPU the smaller micro-batch costs ~nothing.
MICRO_BATCH = 48
_WARN, _ERROR = 3, 4  # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation
_init_lock = threading.Lock()
_api: Any = None
_log_sink: Any = None  # the ctypes callback must outlive every call into llama.cpp


def api() -> Any:
    """`llama_cpp.llama_cpp`, with the backend initialised and llama.cpp's chatter routed to `logging`."""
    global _api, _log_sink
    if _api is None:
        with _init_lock:
            if _api is None:
                lib = importlib.import_module("llama_cpp.llama_cpp")
                lib.llama_backend_init()
                _keep_large_buffers_returnable()

                def forward(level: int, text: bytes, _data: Any) -> None:
                    if level in (_WARN, _ERROR):
                        message = text.decode(errors="replace").rstrip()
                        llama_log.log(logging.WARNING if level == _WARN else logging.ERROR, "%s", message)

                _log_sink = lib.llama_log_callback(forward)
                lib.llama_log_set(_log_sink, ctypes.c_void_p(0))
                _api = lib
    return _api


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BUFFER = 1 << 20


def _keep_large_buffers_returnable() -> None:
    """Saved KV states are buffers of tens of megabytes that come and go with every slot swap. glibc maps
    such buffers on their own, but after the first is freed it raises its threshold to that size and
    serves the next ones from the heap, where freed space is rarely given back: measured over 100
    conversations, +580 MB RSS that stayed. A fixed threshold keeps them mapped and returned when freed
    (+158 to +254 MB in two runs, rising and falling with what is in use). Only on glibc; elsewhere nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER)
    except (OSError, AttributeError):
        pass


class NativeModel:
    """GGUF weights and vocabulary, loaded once per model and shared by its context and its tokenizer."""

    def __init__(self, path: Path) -> None:
        lib = api()
        params = lib.llama_model_default_params()
        # Read the weights into the process instead of mapping the file: mapped pages are page cache, which
        # the kernel reclaims from an idle server (measured here: 9% of an untouched GGUF's pages gone after
        # 150 s, more every minute), and the next reply then faults the model back in from disk.
        params.use_mmap = False
        self.ptr = lib.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = lib.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.bos = int(lib.llama_vocab_bos(self.vocab))
        self.eos = int(lib.llama_vocab_eos(self.vocab))
        self.adds_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}

    def chat_template(self) -> str | None:
        raw = api().llama_model_chat_template(self.ptr, None)
        return raw.decode("utf-8") if raw else None

    def token_text(self, token: int) -> str:
        """A special token as written in templates ("<|im_start|>"), "" for none."""
        if token < 0:
            return ""
        return bytes(api().llama_vocab_get_text(self.vocab, token)).decode("utf-8", errors="replace")

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False) -> list[int]:
        lib = api()
        data = text.encode("utf-8")
        capacity = len(data) + 16
        while True:
            buffer = (lib.llama_token * capacity)()
            count = lib.llama_tokenize(self.vocab, data, len(data), buffer, capacity, add_special, parse_special)
            if count >= 0:
                return list(buffer[:count])
            capacity = -count  # too small: llama.cpp says how many it needs

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (control tokens render as nothing)."""
        piece = self._pieces.get(token)
        if piece is None:
            buffer = ctypes.create_string_buffer(64)
            size = api().llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if size < 0:
                buffer = ctypes.create_string_buffer(-size)
                size = api().llama_token_to_piece(self.vocab, token, buffer, -size, 0, False)
            piece = self._pieces[token] = buffer.raw[:size]
        return piece

    def is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(api().llama_vocab_is_eog(self.vocab, token))
        return eog

    def close(self) -> None:
        if self.ptr:
            api().llama_model_free(self.ptr)
            self.ptr = None


class NativeContext:
    """One llama.cpp context with `n_seq` sequences of up to `seq_len` tokens each, every sequence in its
    own KV stream (so the KV memory is exactly `n_seq * seq_len` cells), and the one batch every decode
    goes through."""

    def __init__(self, model: NativeModel, *, n_seq: int, seq_len: int, n_batch: int, threads: int) -> None:
        lib = api()
        params = lib.llama_context_default_params()
        params.n_ctx = n_seq * seq_len
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, MICRO_BATCH)
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = threads
        # A KV stream per sequence, not one unified buffer: in a unified buffer every token attends over the
        # cells of *every* resident conversation (masked), so with 8 slots of 1,200-token chats each decode
        # step reads 8x the attention it needs. Measured with the bundled model, 8 resident conversations:
        # one stream 32 -> 49 tok/s, 8 at once 39 -> 73 tok/s aggregate. llama_decode still takes a step's
        # tokens of every sequence in one call (it splits them into per-stream micro-batches itself).
        params.kv_unified = False
        # Plain attention, not ggml's CPU flash attention (which llama.cpp's "auto" picks): measured with the
        # bundled model on 2 cores, reading a prompt at 3,000 tokens of context 18.4 -> 11.2 ms per token and
        # decoding 32.9 -> 27.4 ms per token (at 300 tokens of context the two are level). Greedy text stays
        # byte-identical alone and in a batch (tests/test_engine_model.py).
        params.flash_attn_type = 0  # LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self.ptr = lib.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self.model = model
        self.n_batch = n_batch
        self.memory = lib.llama_get_memory(self.ptr)
        self.can_shift = bool(lib.llama_memory_can_shift(self.memory))
        self.batch = lib.llama_batch_init(n_batch, 0, 1)
        # numpy views straight onto the batch's arrays: filling a 512-token chunk costs microseconds
        self._token = np.ctypeslib.as_array(self.batch.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(self.batch.pos, shape=(n_batch,))
        self._n_seq_id = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(n_batch,))
        self._logits = np.ctypeslib.as_array(self.batch.logits, shape=(n_batch,))
        self._seq_id = self.batch.seq_id
        self._n_seq_id[:] = 1
        self.size = 0

    def clear_batch(self) -> None:
        self.size = 0

    def add(self, tokens: list[int], start: int, seq: int, *, logits_last: bool) -> int:
        """Queue `tokens` of sequence `seq` at positions `start`, ...; returns the batch index of the last one."""
        first, count = self.size, len(tokens)
        end = first + count
        self._token[first:end] = tokens
        self._pos[first:end] = np.arange(start, start + count)
        self._logits[first:end] = 0
        if logits_last:
            self._logits[end - 1] = 1
        seq_id = self._seq_id
        for index in range(first, end):
            seq_id[index][0] = seq
        self.size = end
        return end - 1

    def decode(self) -> None:
        self.batch.n_tokens = self.size
        status = api().llama_decode(self.ptr, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")

    def remove(self, seq: int, start: int = 0) -> bool:
        """Drop the sequence's tokens at positions >= `start` (all of them by default)."""
        return bool(api().llama_memory_seq_rm(self.memory, seq, start, -1))

    def shift(self, seq: int, start: int, end: int) -> bool:
        """Drop the sequence's positions [start, end) and move the later ones back by `end - start` (their
        keys are re-rotated at the next decode); False, with nothing changed, where the cache cannot shift."""
        lib = api()
        if not self.can_shift or not lib.llama_memory_seq_rm(self.memory, seq, start, end):
            return False
        lib.llama_memory_seq_add(self.memory, seq, end, -1, start - end)
        return True

    def save(self, seq: int) -> tuple[ctypes.Array[ctypes.c_char], int]:
        lib = api()
        size = lib.llama_state_seq_get_size(self.ptr, seq)
        data = ctypes.create_string_buffer(size)
        used = lib.llama_state_seq_get_data(self.ptr, ctypes.cast(data, ctypes.POINTER(ctypes.c_uint8)), size, seq)
        return data, int(used)

    def restore(self, seq: int, data: ctypes.Array[ctypes.c_char], size: int) -> bool:
        self.remove(seq)
        pointer = ctypes.cast(data, ctypes.POINTER(ctypes.c_uint8))
        if api().llama_state_seq_set_data(self.ptr, pointer, size, seq) != size:
            self.remove(seq)
            return False
        return True

    def close(self) -> None:
        if self.ptr:
            lib = api()
            lib.llama_batch_free(self.batch)
            lib.llama_free(self.ptr)
            self.ptr = None


class NativeSampler:
    """One sequence's llama.cpp sampler chain: repeat penalty, then greedy (temperature 0) or top-k, top-p,
    min-p, temperature and a seeded draw; optionally a GBNF grammar the output must match."""

    def __init__(self, context: NativeContext, params: SamplingParams, grammar: str | None, history: list[int]) -> None:
        lib = api()
        self.context = context
        model = context.model
        self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lambda sampler: lib.llama_sampler_chain_add(self.chain, sampler)  # noqa: E731
        greedy = params.temperature <= 0
        if params.repeat_penalty != 1.0:
            # The penalty touches at most the last PENALTY_LAST_N distinct tokens, so the k best after it are
            # always among the k + PENALTY_LAST_N best before it: cutting to those first gives exactly the same
            # choice (greedy: k = 1) without penalising all 49k candidates every step (0.5 ms -> 0.06 ms).
            keep = 1 if greedy else params.top_k
            if keep > 0:
                add(lib.llama_sampler_init_top_k(keep + PENALTY_LAST_N))
            add(lib.llama_sampler_init_penalties(model.n_vocab, PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0))
        if greedy:
            add(lib.llama_sampler_init_greedy())
        else:
            add(lib.llama_sampler_init_top_k(params.top_k))
            add(lib.llama_sampler_init_top_p(params.top_p, 1))
            add(lib.llama_sampler_init_min_p(params.min_p, 1))
            add(lib.llama_sampler_init_temp(params.temperature))
            add(lib.llama_sampler_init_dist(lib.LLAMA_DEFAULT_SEED if params.seed is None else params.seed))
        # The penalty looks back over the prompt too, as llama.cpp's own server and llama-cpp-python do.
        for token in history[-PENALTY_LAST_N:]:
            lib.llama_sampler_accept(self.chain, token)
        self.grammar: Any = None
        if grammar is not None:
            self.grammar = lib.llama_sampler_init_grammar(model.vocab, grammar.encode("utf-8"), b"root")
            if not self.grammar:
                self.close()
                raise ValueError("the grammar does not parse (GBNF with a `root` rule expected)")
            dtype = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
            self._candidates = np.zeros(model.n_vocab, dtype=dtype)
            self._ids = np.arange(model.n_vocab, dtype=np.int32)
            self._one = np.zeros(1, dtype=dtype)

    def sample(self, index: int) -> int:
        """Sample (and accept) the next token from the logits at batch index `index`."""
        lib = api()
        if self.grammar is None:
            return int(lib.llama_sampler_sample(self.chain, self.context.ptr, index))
        # Grammar-constrained: checking all 49k candidates against the grammar every step is slow, so (as
        # llama.cpp's own common sampler does) sample freely first, check only that token, and apply the
        # grammar to the whole vocabulary only when it was rejected.
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.context.ptr, index), shape=(len(self._ids),))
        token = self._pick(logits, constrained=False)
        self._one["id"], self._one["logit"], self._one["p"] = token, logits[token], 0.0
        lib.llama_sampler_apply(self.grammar, ctypes.byref(self._array(self._one)))
        if not np.isfinite(self._one["logit"][0]):
            token = self._pick(logits, constrained=True)
        lib.llama_sampler_accept(self.grammar, token)
        lib.llama_sampler_accept(self.chain, token)
        return token

    def _pick(self, logits: np.ndarray, *, constrained: bool) -> int:
        lib = api()
        candidates = self._candidates
        candidates["id"] = self._ids
        candidates["logit"] = logits
        candidates["p"] = 0.0
        array = self._array(candidates)
        if constrained:
            lib.llama_sampler_apply(self.grammar, ctypes.byref(array))
        lib.llama_sampler_apply(self.chain, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError("the sampler selected no token")
        return int(array.data[array.selected].id)

    @staticmethod
    def _array(candidates: np.ndarray) -> Any:
        lib = api()
        data = candidates.ctypes.data_as(lib.llama_token_data_p)
        return lib.llama_token_data_array(data=data, size=len(candidates), selected=-1, sorted=False)

    def close(self) -> None:
        lib = api()
        if self.chain:
            lib.llama_sampler_free(self.chain)
            self.chain = None
        if self.grammar:
            lib.llama_sampler_free(self.grammar)
            self.grammar = None
