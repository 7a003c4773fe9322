"""Per-conversation llama.cpp KV state, kept in a bounded LRU in RAM and optionally spilled to disk.

llama.cpp holds one sequence: when another conversation runs, the first one's processed prompt is
gone, and coming back would cost a full re-prefill (tens of seconds for a long chat on a CPU). A
saved sequence state restores in a fraction of that. Entries are keyed by conversation id and carry
the tokens they cover, so a caller restores only when the saved prefix is worth it.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
MAGIC = b"BKV1"


@dataclass
class SessionState:
    tokens: np.ndarray  # the token ids the KV state covers, in order
    data: ctypes.Array[ctypes.c_char]  # llama_state_seq_get_data output
    size: int  # bytes of `data` in use

    @property
    def nbytes(self) -> int:
        return self.size + self.tokens.nbytes


def common_prefix(a: np.ndarray | list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    left = np.asarray(a[:n], dtype=np.int64)
    right = np.asarray(b[:n], dtype=np.int64)
    mismatch = np.flatnonzero(left != right)
    return int(mismatch[0]) if mismatch.size else n


# Context shift (as llama.cpp's server and KoboldCpp do it): when a long chat's kept history starts later, the
# prompt is what the KV cache holds with a span taken out - the messages left behind. Dropping that span and
# moving what follows back by its length keeps the rest, instead of reading it all again. Only worth it when
# it saves reading at least this many tokens: a small edit near the end (a lorebook entry gone) is read anew,
# exactly, rather than kept approximately (what follows a dropped span was read while it was there).
MIN_SHIFT_GAIN = 128
SHIFT_PROBE = 16  # tokens of the prompt, after the common prefix, that must match where the kept part begins


def dropped_span(
    tokens: list[int], prompt: list[int], *, within: int | None = None, least: int = MIN_SHIFT_GAIN
) -> tuple[int, int] | None:
    """`(start, end)` such that `prompt` begins with `tokens[:start] + tokens[end:]` for at least `least`
    tokens past `start` (the first such span: the fewest dropped), or None. `within`: the span must begin
    there or before (where the history begins: a deeper change is an edit, read exactly)."""
    start = common_prefix(tokens, prompt)
    probe = prompt[start : start + SHIFT_PROBE]
    if len(probe) < SHIFT_PROBE or len(tokens) - start <= least or (within is not None and start > within):
        return None
    held = np.asarray(tokens, dtype=np.int64)
    for end in (np.flatnonzero(held[start + 1 :] == probe[0]) + start + 1).tolist():
        if len(tokens) - end < least:
            break
        if held[end : end + SHIFT_PROBE].tolist() == probe and common_prefix(tokens[end:], prompt[start:]) >= least:
            return start, end
    return None


def reusable(tokens: list[int], prompt: list[int], *, shift: bool, within: int | None = None) -> int:
    """How many tokens of `prompt` a sequence holding `tokens` has already read (with a shift if allowed)."""
    start = common_prefix(tokens, prompt)
    span = dropped_span(tokens, prompt, within=within) if shift else None
    return start if span is None else start + common_prefix(tokens[span[1] :], prompt[start:])


class SessionCache:
    def __init__(self, max_bytes: int, disk_dir: Path | None = None, max_disk_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        self.disk_dir = disk_dir if max_disk_bytes > 0 else None
        self.max_disk_bytes = max_disk_bytes
        self._ram: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.disk_hits = 0
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True)

    @property
    def keeps_anything(self) -> bool:
        return self.max_bytes > 0 or self.disk_dir is not None

    @property
    def ram_bytes(self) -> int:
        return sum(state.nbytes for state in self._ram.values())

    def __len__(self) -> int:
        return len(self._ram)

    def put(self, key: str, state: SessionState, *, durable: bool = False) -> None:
        """Keep `state`; `durable`: also on disk now (it outlives the process: a restart can restore it)."""
        if durable or state.nbytes > self.max_bytes:
            self._spill(key, state)
        if state.nbytes > self.max_bytes:
            return
        with self._lock:
            self._ram.pop(key, None)
            self._ram[key] = state
            evicted = []
            while self.ram_bytes > self.max_bytes and len(self._ram) > 1:
                evicted.append(self._ram.popitem(last=False))
        for old_key, old_state in evicted:
            self._spill(old_key, old_state)

    def get(self, key: str) -> SessionState | None:
        with self._lock:
            state = self._ram.get(key)
            if state is not None:
                self._ram.move_to_end(key)
                self.hits += 1
                return state
        state = self._load(key)
        if state is None:
            self.misses += 1
            return None
        self.disk_hits += 1
        self.put(key, state)
        return state

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._ram:
                return True
        path = self._path(key)
        return path is not None and path.exists()

    def discard(self, key: str) -> None:
        with self._lock:
            self._ram.pop(key, None)
        if path := self._path(key):
            path.unlink(missing_ok=True)

    # -- disk ------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        if self.disk_dir is None:
            return None
        return self.disk_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".kv")

    def _spill(self, key: str, state: SessionState) -> None:
        path = self._path(key)
        if path is None:
            return
        # Written beside and renamed into place: a process killed mid-write leaves no half state to restore.
        partial = path.with_suffix(".part")
        try:
            with partial.open("wb") as handle:
                handle.write(MAGIC + len(state.tokens).to_bytes(8, "little") + state.size.to_bytes(8, "little"))
                handle.write(state.tokens.astype(np.int32).tobytes())
                handle.write(memoryview(state.data)[: state.size])
            partial.replace(path)
            self._trim_disk()
        except OSError as exc:
            log.warning("could not spill KV state to %s: %s", path, exc)

    def _load(self, key: str) -> SessionState | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        try:
            raw = path.read_bytes()
            if raw[:4] != MAGIC:
                return None
            n_tokens = int.from_bytes(raw[4:12], "little")
            size = int.from_bytes(raw[12:20], "little")
            start = 20 + 4 * n_tokens
            if len(raw) != start + size:
                return None  # not a whole state
            tokens = np.frombuffer(raw[20:start], dtype=np.int32).copy()
            data = ctypes.create_string_buffer(raw[start : start + size], size)
            path.touch()  # recently used: trimmed last
            return SessionState(tokens=tokens, data=data, size=size)
        except (OSError, ValueError) as exc:
            log.warning("could not read KV state %s: %s", path, exc)
            return None

    def _trim_disk(self) -> None:
        assert self.disk_dir is not None
        files = sorted(self.disk_dir.glob("*.kv"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.max_disk_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
