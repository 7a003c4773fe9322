from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from bostonia.app import Services, build_services, create_app
from bostonia.auth import service as auth_service
from bostonia.config import Settings
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import make_settings, register, serve_in_thread


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir and no stray BOSTONIA_* settings from the shell.

    Password hashing is made cheap: argon2's production cost (~100 ms a hash) would dominate the suite.
    """
    monkeypatch.setattr(
        auth_service, "PasswordHasher", partial(PasswordHasher, time_cost=1, memory_cost=1024, parallelism=1)
    )
    for name in list(os.environ):
        if name.startswith("BOSTONIA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOSTONIA_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings, model: ScriptedModel) -> Services:
    pm = make_plugin_manager([])
    pm.register(ModelPlugin(model))
    return build_services(settings, pm)


@pytest.fixture
def app(settings: Settings, services: Services) -> Litestar:
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def live(app: Litestar) -> Iterator[httpx.Client]:
    """An HTTP client talking to the app over a real socket (the in-process TestClient buffers streams)."""
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture
def alice(client: TestClient[Any]) -> dict[str, Any]:
    return register(client, "alice@example.com", name="Alice")


@pytest.fixture
def bob(client: TestClient[Any], alice: dict[str, Any]) -> dict[str, Any]:
    return register(client, "bob@example.com", name="Bob")
