"""A runaway generation is cut by max tokens and by the time limit (the engine's own tests:
tests/test_engine.py, and on the real model tests/test_engine_model.py); these check that the operator's
`[llm]` limits are what the local models get, and that the KV caches are bounded by their settings.
Memory over 100 conversations is measured by `make soak` (tests/soak/test_memory_soak.py)."""

from __future__ import annotations

from bostonia.app import build_services
from bostonia.llm.local import LlamaCppModel
from bostonia.plugins import make_plugin_manager
from tests.helpers import make_settings


def test_the_configured_limits_reach_every_local_model() -> None:
    settings = make_settings(
        llm={"time_limit_seconds": 7.5, "max_tokens": 99, "kv_cache_mb": 3, "kv_cache_disk_mb": 5},
    )
    services = build_services(settings, make_plugin_manager([]))
    local = [model for model in services.models if isinstance(model, LlamaCppModel)]
    assert local, "the bundled GGUF is registered"
    for model in local:
        assert model.time_limit == 7.5
        assert model.cache.max_bytes == 3 * 1024 * 1024
        assert model.cache.max_disk_bytes == 5 * 1024 * 1024
    assert services.replies.config.max_tokens == 99
