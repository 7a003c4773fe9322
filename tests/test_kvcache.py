from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from bostonia.llm.kvcache import MIN_SHIFT_GAIN, SessionCache, SessionState, common_prefix, dropped_span, reusable


def state(tokens: list[int], size: int = 1000, fill: bytes = b"x") -> SessionState:
    data = ctypes.create_string_buffer(fill * size, size)
    return SessionState(tokens=np.array(tokens, dtype=np.int32), data=data, size=size)


def test_common_prefix() -> None:
    assert common_prefix(np.array([1, 2, 3, 4]), [1, 2, 9]) == 2
    assert common_prefix(np.array([1, 2]), [1, 2, 3]) == 2
    assert common_prefix(np.array([], dtype=np.int32), [1]) == 0
    assert common_prefix(np.array([5]), []) == 0


def test_least_recently_used_states_are_evicted_within_the_budget() -> None:
    cache = SessionCache(max_bytes=2500)
    cache.put("a", state([1]))
    cache.put("b", state([2]))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", state([3]))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.ram_bytes <= 2500


def test_evicted_states_spill_to_disk_and_come_back(tmp_path: Path) -> None:
    cache = SessionCache(max_bytes=1500, disk_dir=tmp_path / "kv", max_disk_bytes=10_000)
    cache.put("a", state([1, 2, 3], fill=b"a"))
    cache.put("b", state([4, 5], fill=b"b"))  # pushes a out of RAM, onto disk
    assert len(cache) == 1 and list((tmp_path / "kv").glob("*.kv"))
    back = cache.get("a")
    assert back is not None and back.tokens.tolist() == [1, 2, 3] and back.data.raw[: back.size] == b"a" * 1000
    assert cache.disk_hits == 1


def test_disk_spill_is_bounded(tmp_path: Path) -> None:
    cache = SessionCache(max_bytes=1100, disk_dir=tmp_path / "kv", max_disk_bytes=2500)
    for key in "abcdef":
        cache.put(key, state([1], fill=key.encode()))
    total = sum(p.stat().st_size for p in (tmp_path / "kv").glob("*.kv"))
    assert total <= 2500


def test_discard_forgets_a_conversation(tmp_path: Path) -> None:
    cache = SessionCache(max_bytes=1100, disk_dir=tmp_path / "kv", max_disk_bytes=10_000)
    cache.put("a", state([1]))
    cache.put("b", state([2]))
    cache.discard("a")
    cache.discard("b")
    assert cache.get("a") is None and cache.get("b") is None


def test_a_prompt_with_a_span_of_the_cache_taken_out_is_found() -> None:
    system, dropped, kept = list(range(50)), list(range(100, 400)), list(range(1000, 1300))
    tokens = system + dropped + kept
    prompt = system + kept + [7, 7, 7]  # the history's start moved past `dropped`; a new turn follows
    assert dropped_span(tokens, prompt) == (50, 350)
    assert reusable(tokens, prompt, shift=True) == 350 and reusable(tokens, prompt, shift=False) == 50
    # Nothing dropped (the prompt only grows), too little kept to be worth it, or no such span: no shift.
    assert dropped_span(tokens, [*tokens, 7]) is None
    short = system + dropped + kept[: MIN_SHIFT_GAIN - 1]
    assert dropped_span(short, system + kept[: MIN_SHIFT_GAIN - 1]) is None
    assert dropped_span(tokens, system + list(range(2000, 2400))) is None
    # A kept part that stops matching early (a changed message in it) must still keep enough.
    changed = system + kept[:20] + [9] * 300
    assert dropped_span(tokens, changed) is None


def test_a_span_is_only_taken_out_where_the_history_begins_when_asked() -> None:
    system, dropped, kept = list(range(50)), list(range(100, 400)), list(range(1000, 1300))
    prompt = system + kept
    assert dropped_span(system + dropped + kept, prompt, within=60) == (50, 350)
    assert dropped_span(system + dropped + kept, prompt, within=40) is None  # the change is deeper than that
