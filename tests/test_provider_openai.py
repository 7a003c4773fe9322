"""The bostonia-openai provider plugin against real servers: a second Bostonia (its OpenAI-compatible API,
with an API key) and llama.cpp's own `llama-server` — never a mocked HTTP layer. Pools of URLs, fallback
when the provider fails mid-reply or rate-limits, start-up errors naming the key, no secret in the logs."""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bostonia_openai
import httpx
import openai
import pytest
from bostonia_openai.pool import BackendPool

from bostonia.app import Services, build_services, create_app
from bostonia.errors import ConfigError
from bostonia.observability.logs import JsonFormatter
from bostonia.plugins import make_plugin_manager
from tests.fakes import ModelPlugin, ScriptedModel
from tests.helpers import bearer, free_port, make_settings, messages, new_conversation, register, serve_in_thread

KEY_ENV = "REMOTE_BOSTONIA_KEY"  # not a BOSTONIA_* name: those are configuration keys


@contextmanager
def bostonia_server(*models: ScriptedModel, **overrides: Any) -> Iterator[tuple[str, Services]]:
    """Another Bostonia, with a data dir of its own (the front's is the test's)."""
    data_dir = tempfile.mkdtemp(prefix="bostonia-back-")
    settings = make_settings(llm={"default_model": models[0].model_id}, data_dir=data_dir, **overrides)
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(*models))
    services = build_services(settings, plugins)
    try:
        with serve_in_thread(create_app(settings, services=services)) as url:
            yield url, services
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def api_key_of(url: str, email: str = "front@example.com") -> str:
    with httpx.Client(base_url=url) as client:
        account = register(client, email)
        return str(
            client.post("/api/v1/users/me/api-keys", json={"name": "front"}, headers=bearer(account)).json()["secret"]
        )


def front_services(provider: dict[str, Any], *local: ScriptedModel, route: list[str]) -> Services:
    settings = make_settings(
        llm={"default_model": route[-1], "top_k": 17, "min_p": 0.07},
        models={"routes": {"free": route}, "stall_timeout_seconds": 5},
        plugins={"openai": {"providers": [provider]}},
    )
    plugins = make_plugin_manager([])
    plugins.register(ModelPlugin(*local))
    plugins.register(bostonia_openai, name="openai")
    return build_services(settings, plugins)


@pytest.fixture
def back() -> Iterator[tuple[str, Services, ScriptedModel]]:
    remote = ScriptedModel("scripted")
    with bostonia_server(remote) as (url, services):
        yield url, services, remote


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the process, as the server writes them (JSON), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_a_second_bostonia_serves_the_chat_through_the_plugin_and_the_key_is_never_logged(
    back: tuple[str, Services, ScriptedModel], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url, back_services, remote = back
    key = api_key_of(url)
    monkeypatch.setenv(KEY_ENV, key)
    provider = {"name": "remote", "base_urls": [f"{url}/v1"], "api_key_env": KEY_ENV, "sampler_extras": True}
    caplog.set_level(logging.DEBUG)
    with captured_logs() as logs:
        services = front_services(provider, ScriptedModel("local"), route=["remote/scripted", "local"])
        assert {"remote/scripted", "remote/SmolLM2-135M-Instruct.Q4_1"} <= {m.model_id for m in services.models}
        with (
            serve_in_thread(create_app(services.settings, services=services)) as front,
            httpx.Client(base_url=front, timeout=60) as client,
        ):
            alice = register(client, "alice@example.com", name="Alice")
            conversation = new_conversation(client, alice)
            remote.enqueue(["Hello", " from", " far", " away."])
            reply = client.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi!"}, headers=bearer(alice)
            ).json()["assistant_message"]
            usage = client.get("/api/v1/ai/usage", headers=bearer(alice)).json()["recent"][0]
    assert reply["content"] == "Hello from far away." and reply["model_used"] == "remote/scripted"
    # The far side received the whole prompt the front built (card, greeting, the message).
    far_prompt = remote.prompts[-1]
    assert far_prompt[0].role == "system" and far_prompt[-1].content == "Hi!"
    assert (remote.params[-1].top_k, remote.params[-1].min_p) == (17, 0.07)  # the sampler extras went along
    # Usage as the far side counted it (its stream's last chunk), recorded under the provider's name.
    assert usage["provider"] == "remote" and usage["tokens_out"] == 4 and usage["tokens_in"] > 20
    far = back_services.db.read_sync(lambda c: c.execute("select source, tokens_out from ai_usage").fetchall())
    assert [tuple(row) for row in far] == [("api", 4)]
    written = logs.getvalue()
    assert "chat/completions" in written  # the run was logged (httpx's request lines)...
    assert key not in written and key not in caplog.text  # ...and the key never was


def test_a_pool_skips_a_dead_server_and_a_failure_mid_reply_falls_back_to_the_next_model(
    back: tuple[str, Services, ScriptedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, remote = back
    monkeypatch.setenv(KEY_ENV, api_key_of(url))
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    provider = {
        "name": "pool",
        "base_urls": [dead, f"{url}/v1"],
        "api_key_env": KEY_ENV,
        "models": ["scripted"],
        "retry_unhealthy_seconds": 300,
    }
    local = ScriptedModel("local")
    services = front_services(provider, local, route=["pool/scripted", "local"])
    pool = next(m for m in services.models if m.model_id == "pool/scripted").pool  # type: ignore[attr-defined]
    with (
        serve_in_thread(create_app(services.settings, services=services)) as front,
        httpx.Client(base_url=front, timeout=60) as client,
    ):
        alice = register(client, "alice@example.com")
        conversation = new_conversation(client, alice)
        for words in (["First."], ["Second."]):
            remote.enqueue(words)
            reply = client.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
            ).json()["assistant_message"]
            assert reply["content"] == words[0] and reply["model_used"] == "pool/scripted"
        health = {b["url"]: b for b in pool.snapshot()}
        assert not health[dead.rstrip("/")]["healthy"] and health[f"{url}/v1"]["served"] == 2
        # The far model breaks after two pieces: the partial stays, the local model continues it.
        remote.enqueue(["Once", " upon", RuntimeError("GPU fell over")])
        local.enqueue([" a", " time."])
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Story"}, headers=bearer(alice)
        ).json()["assistant_message"]
        assert len(messages(client, alice, conversation["id"])) == 7
    assert reply["content"] == "Once upon a time." and reply["model_used"] == "local"
    assert reply["metadata"]["fallbacks"][0]["from_model"] == "pool/scripted"
    assert local.replies[-1].continue_last and local.replies[-1].messages[-1].content == "Once upon"


def test_a_rate_limited_provider_hands_over_and_cools_down(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = ScriptedModel("scripted")
    with bostonia_server(remote, rate_limits={"free": 2, "anonymous": 1000}) as (url, _):
        monkeypatch.setenv(KEY_ENV, api_key_of(url))  # making the key is the account's first request of 2
        local = ScriptedModel("local")
        provider = {"name": "tight", "base_urls": [f"{url}/v1"], "api_key_env": KEY_ENV, "models": ["scripted"]}
        services = front_services(provider, local, route=["tight/scripted", "local"])
        with (
            serve_in_thread(create_app(services.settings, services=services)) as front,
            httpx.Client(base_url=front, timeout=60) as client,
        ):
            alice = register(client, "alice@example.com")
            conversation = new_conversation(client, alice)
            served = []
            for _ in range(3):
                local.enqueue(["Local."])
                remote.enqueue(["Far."])
                served.append(
                    client.post(
                        f"/api/v1/conversations/{conversation['id']}/messages",
                        json={"content": "Hi"},
                        headers=bearer(alice),
                    ).json()["assistant_message"]
                )
    assert [r["model_used"] for r in served] == ["tight/scripted", "local", "local"]
    assert served[1]["metadata"]["fallbacks"][0]["reason"] == "rate_limited"
    assert not served[2]["metadata"].get("fallbacks")  # cooling down: not even tried


def test_a_misconfigured_provider_stops_the_start_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_PROVIDER_KEY", raising=False)
    provider = {"name": "cloud", "base_urls": ["https://example.invalid/v1"], "api_key_env": "MISSING_PROVIDER_KEY"}
    with pytest.raises(ConfigError) as refused:
        front_services(provider, ScriptedModel("local"), route=["local"])
    assert "api_key_env" in refused.value.message and "MISSING_PROVIDER_KEY" in refused.value.message
    with pytest.raises(ConfigError, match="no URL"):
        front_services(
            {"name": "x", "base_urls": ["ftp://x"], "models": ["m"]}, ScriptedModel("local"), route=["local"]
        )
    with pytest.raises(ConfigError, match=r"plugins\.openai"):
        front_services(
            {"name": "x", "base_urls": ["http://x/v1"], "colour": 1}, ScriptedModel("local"), route=["local"]
        )


def test_the_pool_sends_each_request_to_the_least_busy_healthy_server() -> None:
    pool = BackendPool(["http://a/v1", "http://b/v1", "http://c/v1"], retry_seconds=0.2)
    first, second, third = pool.acquire(), pool.acquire(), pool.acquire()
    assert {first.url, second.url, third.url} == {"http://a/v1", "http://b/v1", "http://c/v1"}
    pool.release(second, ok=True)
    assert pool.acquire() is second  # the only idle one
    pool.mark_unhealthy(first, "ConnectError")
    pool.release(first, ok=False)
    pool.release(third, ok=True)
    assert pool.acquire() is third  # first rests; second is busy
    pool.release(second, ok=True)
    pool.release(third, ok=True)
    time.sleep(0.25)
    assert pool.acquire().url == "http://a/v1"  # rested long enough: tried again (and it was picked longest ago)


@pytest.mark.model
@pytest.mark.timeout(1800)  # a fresh machine first builds llama-server (15+ min beside other tests on a slow day)
def test_llama_server_serves_through_the_plugin_with_json_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp's own server (one thread: the machine's cores are shared) behind the plugin."""
    from benchmarks.llama_server import running_llama_server
    from bostonia.llm.local import bundled_model_path

    model_path = bundled_model_path()
    assert model_path is not None
    with running_llama_server(
        model_path, parallel=2, context_per_slot=2048, threads=1, extra=("--alias", "smol")
    ) as url:
        provider = {"name": "llama", "base_urls": [f"{url}/v1"], "sampler_extras": True, "context_size": 2048}
        services = front_services(provider, ScriptedModel("local"), route=["llama/smol", "local"])
        assert "llama/smol" in {m.model_id for m in services.models}  # discovered (GET /v1/models)
        with (
            serve_in_thread(create_app(services.settings, services=services)) as front,
            httpx.Client(base_url=front, timeout=120) as client,
        ):
            alice = register(client, "alice@example.com")
            sdk = openai.OpenAI(base_url=f"{front}/v1", api_key=alice["access_token"], max_retries=0, timeout=120)
            streamed = sdk.chat.completions.create(
                model="llama/smol",
                messages=[{"role": "user", "content": "Name three colours."}],
                max_tokens=24,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(streamed)
            schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
            structured = sdk.chat.completions.create(
                model="llama/smol",
                messages=[{"role": "user", "content": "Pick a colour. Answer in JSON."}],
                max_tokens=40,
                temperature=0,
                response_format={"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}},
            )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 5
    import json

    picked = json.loads(structured.choices[0].message.content or "")
    assert isinstance(picked.get("colour"), str)
    assert structured.model == "llama/smol"
