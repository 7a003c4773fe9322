"""The default chat models: the bundled GGUF and every GGUF in `[llm] models_dir`, on llama.cpp."""

from __future__ import annotations

from collections.abc import Callable

from bostonia.config import Settings
from bostonia.hookspecs import hookimpl
from bostonia.llm.base import ChatModel
from bostonia.llm.kvcache import SessionCache
from bostonia.llm.local import LlamaCppModel, discover_gguf_files


def make_session_cache(settings: Settings, model_id: str) -> SessionCache:
    """A model's own state cache: a saved state only fits the model that made it, so each model keeps
    its states in its own folder (and its own budget)."""
    llm = settings.llm
    disk = settings.data_path / "kvcache" / model_id if llm.kv_cache_disk_mb > 0 else None
    return SessionCache(llm.kv_cache_mb * 1024 * 1024, disk, llm.kv_cache_disk_mb * 1024 * 1024)


@hookimpl
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    llm = settings.llm
    for path in discover_gguf_files(settings.models_path):
        register(
            LlamaCppModel(
                path,
                context_size=llm.context_size,
                threads=llm.threads,
                batch_size=llm.batch_size,
                parallel=llm.parallel,
                prefill_chunk=llm.prefill_chunk,
                time_limit=llm.time_limit_seconds,
                context_shift=llm.context_shift,
                cache=make_session_cache(settings, path.stem),
            )
        )
