"""The memory budget for local models (`[llm] memory_budget_mb`): which stay loaded.

Before a model generates, `acquire` makes sure it is loaded: if loading it would go over the budget, the
least recently used *idle* models are unloaded first (a model streaming a reply is never unloaded).
Loading and unloading run on a worker thread, never on the event loop. A model too big for the budget
on its own still loads (with a warning) — refusing would leave the route with nothing to serve.

Memory is estimated, not measured: the GGUF file's size (the weights are mapped whole) plus its KV cache
(`kv_bytes_per_token` from the header x the tokens of context the model keeps: `context_size` x `parallel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from bostonia.llm.base import ChatModel, LoadableModel, UnloadableModel
from bostonia.orchestration.gguf import GGUFError, read_gguf

log = logging.getLogger(__name__)
MB = 1024 * 1024


def estimate_bytes(model: ChatModel) -> int:
    """What `model` takes in RAM once loaded (0 for models that live elsewhere)."""
    path = getattr(model, "path", None)
    if not isinstance(path, Path) or not path.is_file():
        return 0
    try:
        info = read_gguf(path)
    except (GGUFError, OSError):
        return path.stat().st_size if path.exists() else 0
    tokens = int(getattr(model, "context_size", 0)) * int(getattr(model, "parallel", 1) or 1)
    return info.size_bytes + (info.kv_bytes_per_token() or 0) * tokens


class ModelResidency:
    def __init__(
        self,
        budget_bytes: int,
        models: Callable[[], Iterable[ChatModel]],
        *,
        estimate: Callable[[ChatModel], int] = estimate_bytes,
        before_unload: Callable[[ChatModel], None] = lambda model: None,
    ) -> None:
        self.budget_bytes = budget_bytes  # 0 = no limit
        self._models = models
        self._estimate = estimate
        self._before_unload = before_unload  # e.g. stop the model's generation queue
        self._sizes: dict[str, int] = {}
        self._loaded: OrderedDict[str, ChatModel] = OrderedDict()  # least recently used first
        self._busy: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self.unloads = 0

    def size_of(self, model: ChatModel) -> int:
        if model.model_id not in self._sizes:
            self._sizes[model.model_id] = self._estimate(model)
        return self._sizes[model.model_id]

    @property
    def in_use_bytes(self) -> int:
        self._notice_loaded()
        return sum(self.size_of(model) for model in self._loaded.values())

    def is_loaded(self, model: ChatModel) -> bool:
        loaded = getattr(model, "loaded", None)
        return bool(loaded) if isinstance(loaded, bool) else model.model_id in self._loaded

    def _notice_loaded(self) -> None:
        """Count models loaded behind our back (a token count loads lazily) as least recently used."""
        for model in self._models():
            if isinstance(model, UnloadableModel) and model.loaded and model.model_id not in self._loaded:
                self._loaded[model.model_id] = model
                self._loaded.move_to_end(model.model_id, last=False)
        for model_id in [m for m, model in self._loaded.items() if isinstance(model, UnloadableModel)]:
            if not self._loaded[model_id].loaded:  # type: ignore[attr-defined]
                del self._loaded[model_id]

    async def acquire(self, model: ChatModel) -> None:
        """Load `model` if it is not (making room first); it counts as busy until `release`."""
        self._busy[model.model_id] += 1
        if not isinstance(model, LoadableModel):
            return
        try:
            async with self._lock:
                self._notice_loaded()
                if model.model_id in self._loaded and self.is_loaded(model):
                    self._loaded.move_to_end(model.model_id)
                    return
                await self._make_room(model)
                await asyncio.to_thread(model.load)
                self._loaded[model.model_id] = model
        except BaseException:
            self.release(model)
            raise

    def release(self, model: ChatModel) -> None:
        self._busy[model.model_id] -= 1
        if self._busy[model.model_id] <= 0:
            del self._busy[model.model_id]

    async def _make_room(self, model: ChatModel) -> None:
        if not self.budget_bytes:
            return
        need = self.size_of(model)
        for model_id, loaded in list(self._loaded.items()):
            if self.in_use_bytes + need <= self.budget_bytes:
                return
            if self._busy[model_id] or not isinstance(loaded, UnloadableModel):
                continue
            log.info(
                "unloading %s (%d MB) to load %s (%d MB) within the %d MB budget",
                model_id,
                self.size_of(loaded) // MB,
                model.model_id,
                need // MB,
                self.budget_bytes // MB,
            )
            self._before_unload(loaded)
            await asyncio.to_thread(loaded.unload)
            self._loaded.pop(model_id, None)
            self.unloads += 1
        if self.in_use_bytes + need > self.budget_bytes:
            log.warning(
                "%s (%d MB) does not fit the %d MB memory budget beside the busy models; loading it anyway",
                model.model_id,
                need // MB,
                self.budget_bytes // MB,
            )
