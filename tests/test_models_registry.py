"""The model registry: GGUF metadata, `bostonia models` (list, add, pull, remove, default), downloads from a
Hugging Face-style hub served here (redirect, Range resume, checksum), and the memory budget."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bostonia.cli import app
from bostonia.errors import InvalidInput, Unavailable
from bostonia.llm.local import bundled_model_path
from bostonia.orchestration.gguf import GGUFError, read_gguf
from bostonia.orchestration.hub import hub_file_url, part_path, pull
from bostonia.orchestration.residency import ModelResidency

runner = CliRunner()


def gguf_bytes(*, name: str = "Tiny Test", layers: int = 2, padding: int = 300_000) -> bytes:
    """A small but well-formed GGUF: a few keys (one of them a skipped string array) and two tensors."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    entries = [
        string("general.architecture") + struct.pack("<I", 8) + string("llama"),
        string("general.name") + struct.pack("<I", 8) + string(name),
        string("general.file_type") + struct.pack("<II", 4, 15),  # Q4_K_M
        string("llama.context_length") + struct.pack("<II", 4, 2048),
        string("llama.block_count") + struct.pack("<II", 4, layers),
        string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + string("a") + string("b") + string("c"),
        string("tokenizer.chat_template") + struct.pack("<I", 8) + string("{{ messages }}"),
    ]
    tensors = [
        string("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 64, 1000) + struct.pack("<IQ", 12, 0),
        string("output.weight") + struct.pack("<I", 1) + struct.pack("<Q", 5000) + struct.pack("<IQ", 12, 0),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(entries)) + b"".join(entries) + b"".join(tensors)
    return header + bytes(padding)


class Hub:
    """A hub in Hugging Face's URL shape: `/{repo}/resolve/{revision}/{file}` redirects to a CDN path that
    honours Range requests; it can cut a download short once, and it records what it was sent."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.cut_after: int | None = None  # drop the connection after this many bytes, once
        self.announce: str | None = None  # the X-Linked-Etag to send (a SHA-256)
        self.ranges: list[str | None] = []
        self.tokens: list[str | None] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_GET(self, head: bool = False) -> None:
                match = re.fullmatch(r"/([\w.-]+/[\w.-]+)/resolve/main/([\w.-]+)", self.path)
                if match:
                    if not head:
                        hub.tokens.append(self.headers.get("Authorization"))
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{match.group(2)}")
                    if hub.announce:
                        self.send_header("X-Linked-Etag", f'"{hub.announce}"')
                    self.end_headers()
                    return
                name = self.path.removeprefix("/cdn/")
                if name not in hub.files:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = hub.files[name]
                asked = self.headers.get("Range")
                if not head:
                    hub.ranges.append(asked)
                start = int(re.match(r"bytes=(\d+)-", asked).group(1)) if asked else 0  # type: ignore[union-attr]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if head:
                    return
                body = data[start:]
                if hub.cut_after is not None:
                    body, hub.cut_after = body[: hub.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub({"tiny.gguf": gguf_bytes(), "notes.gguf": b"not a model at all" * 1000})
    yield server
    server.close()


def test_the_bundled_model_metadata_comes_from_its_gguf_header() -> None:
    path = bundled_model_path()
    assert path is not None
    info = read_gguf(path)
    assert info.architecture == "llama" and info.quantization == "Q4_1"
    assert info.parameters_label == "135M" and 130e6 < info.parameters < 140e6
    assert info.context_length == 8192 and info.layers == 30 and info.head_count_kv == 3
    assert info.chat_template and "im_start" in info.chat_template
    assert info.size_bytes == path.stat().st_size
    assert info.kv_bytes_per_token() == 30 * 3 * (64 + 64) * 2


def test_a_synthetic_gguf_and_a_file_that_is_not_one(tmp_path: Path) -> None:
    good = tmp_path / "tiny.gguf"
    good.write_bytes(gguf_bytes())
    info = read_gguf(good)
    assert (info.name, info.quantization, info.context_length, info.parameters) == ("Tiny Test", "Q4_K_M", 2048, 69000)
    assert info.chat_template == "{{ messages }}"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + bytes(100))
    with pytest.raises(GGUFError):
        read_gguf(bad)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gguf_bytes()[:60])
    with pytest.raises(GGUFError, match="ends inside"):
        read_gguf(cut)


def test_pull_follows_the_redirect_resumes_an_interrupted_download_and_verifies_it(hub: Hub, tmp_path: Path) -> None:
    data = hub.files["tiny.gguf"]
    hub.announce = hashlib.sha256(data).hexdigest()
    hub.cut_after = 100_000
    url = hub_file_url(hub.url, "bars/tiny", "tiny.gguf")
    destination = tmp_path / "models" / "tiny.gguf"
    with pytest.raises(Unavailable, match="resume"):
        pull(url, destination, token="hub-secret")
    assert not destination.exists() and part_path(destination).stat().st_size == 100_000
    seen: list[tuple[int, int | None]] = []
    info = pull(url, destination, token="hub-secret", progress=lambda done, total: seen.append((done, total)))
    assert destination.read_bytes() == data and not part_path(destination).exists()
    assert hub.ranges == [None, "bytes=100000-"]  # the second request asked for the rest only
    assert seen[0] == (100_000, len(data)) and seen[-1] == (len(data), len(data))
    assert hub.tokens == ["Bearer hub-secret", "Bearer hub-secret"]
    assert info.name == "Tiny Test"


def test_pull_refuses_a_wrong_checksum_and_a_file_that_is_not_a_model(hub: Hub, tmp_path: Path) -> None:
    destination = tmp_path / "tiny.gguf"
    with pytest.raises(InvalidInput, match="checksum mismatch"):
        pull(hub_file_url(hub.url, "bars/tiny", "tiny.gguf"), destination, sha256="0" * 64)
    assert not destination.exists() and not part_path(destination).exists()
    with pytest.raises(InvalidInput, match="not a usable GGUF"):
        pull(hub_file_url(hub.url, "bars/tiny", "notes.gguf"), tmp_path / "notes.gguf")
    with pytest.raises(InvalidInput, match="not found"):
        pull(hub_file_url(hub.url, "bars/tiny", "missing.gguf"), tmp_path / "missing.gguf")
    with pytest.raises(InvalidInput):
        hub_file_url(hub.url, "../etc", "passwd")


def test_the_models_commands(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSTONIA_MODELS_HUB_URL", hub.url)
    monkeypatch.setenv("BOSTONIA_LLM_MODELS_DIR", str(tmp_path / "models"))
    pulled = runner.invoke(app, ["models", "pull", "bars/tiny", "tiny.gguf"], catch_exceptions=False)
    assert pulled.exit_code == 0, pulled.output
    assert "pulled tiny: llama" in pulled.stdout and (tmp_path / "models" / "tiny.gguf").is_file()
    again = runner.invoke(app, ["models", "pull", "bars/tiny", "tiny.gguf"])
    assert again.exit_code == 0 and "pulled tiny" in again.stdout  # the same file: nothing to do
    hub.files["tiny.gguf"] = gguf_bytes(name="Changed upstream", padding=200_000)
    changed = runner.invoke(app, ["models", "pull", "bars/tiny", "tiny.gguf"])
    assert changed.exit_code == 1 and "not the hub's file" in changed.output
    forced = runner.invoke(app, ["models", "pull", "bars/tiny", "tiny.gguf", "--force"], catch_exceptions=False)
    assert forced.exit_code == 0 and read_gguf(tmp_path / "models" / "tiny.gguf").name == "Changed upstream"
    elsewhere = tmp_path / "elsewhere" / "Other-Model.gguf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(gguf_bytes(name="Other"))
    added = runner.invoke(app, ["models", "add", str(elsewhere)], catch_exceptions=False)
    assert added.exit_code == 0 and (tmp_path / "models" / "Other-Model.gguf").is_symlink()
    listed = runner.invoke(app, ["models", "list"], catch_exceptions=False).stdout
    lines = {line[2:].split()[0]: line for line in listed.splitlines()}
    assert {"SmolLM2-135M-Instruct.Q4_1", "tiny", "Other-Model"} <= set(lines)
    assert "Q4_K_M" in lines["tiny"] and "models_dir" in lines["tiny"] and lines["SmolLM2-135M-Instruct.Q4_1"][0] == "*"
    chosen = runner.invoke(app, ["models", "default", "tiny"], catch_exceptions=False)
    assert chosen.exit_code == 0 and "tiny" in chosen.stdout
    listed = runner.invoke(app, ["models", "list"], catch_exceptions=False).stdout
    assert next(line for line in listed.splitlines() if " tiny " in line).startswith("*")
    unknown = runner.invoke(app, ["models", "default", "nope"])
    assert unknown.exit_code == 1 and "tiny" in unknown.output  # the error lists the models there are
    removed = runner.invoke(app, ["models", "remove", "tiny", "--yes"], catch_exceptions=False)
    assert removed.exit_code == 0 and not (tmp_path / "models" / "tiny.gguf").exists()
    assert "SmolLM2" in runner.invoke(app, ["models", "default"], catch_exceptions=False).stdout
    assert runner.invoke(app, ["models", "remove", "SmolLM2-135M-Instruct.Q4_1", "--yes"]).exit_code == 1
    runner.invoke(app, ["models", "remove", "Other-Model", "--yes"], catch_exceptions=False)
    assert elsewhere.exists()  # only the link went


class FakeLocalModel:
    """A loadable, unloadable model of a given size (for the memory budget's bookkeeping)."""

    def __init__(self, model_id: str, size_mb: int, log: list[str]) -> None:
        self.model_id = model_id
        self.context_size = 1024
        self.size = size_mb * 1024 * 1024
        self.loaded = False
        self.log = log
        self.thread: str | None = None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request: Any, should_stop: Any) -> Iterator[str]:
        yield "x"

    def load(self) -> None:
        self.thread = threading.current_thread().name
        self.loaded = True
        self.log.append(f"load {self.model_id}")

    def unload(self) -> None:
        self.loaded = False
        self.log.append(f"unload {self.model_id}")


def test_the_memory_budget_unloads_the_least_recently_used_idle_model() -> None:
    log: list[str] = []
    a, b, c = (FakeLocalModel(name, 400, log) for name in "abc")
    stopped: list[str] = []
    residency = ModelResidency(
        900 * 1024 * 1024,
        lambda: [a, b, c],
        estimate=lambda model: model.size,  # type: ignore[attr-defined]
        before_unload=lambda model: stopped.append(model.model_id),
    )

    async def scenario() -> None:
        for model in (a, b):
            await residency.acquire(model)
            residency.release(model)
        await residency.acquire(a)  # a is now the most recently used
        residency.release(a)
        await residency.acquire(c)  # 3 x 400 > 900: b (least recently used) goes
        await residency.acquire(b)  # c is busy, so a goes, not c
        assert residency.in_use_bytes == 800 * 1024 * 1024
        await residency.acquire(a)  # everything busy: loads over budget (a warning) rather than failing
        for model in (c, b, a):
            residency.release(model)

    asyncio.run(scenario())
    assert log == ["load a", "load b", "unload b", "load c", "unload a", "load b", "load a"]
    assert stopped == ["b", "a"] and residency.unloads == 2
    assert a.thread != threading.main_thread().name  # loading ran off the event loop's thread


@pytest.mark.model
def test_the_memory_budget_keeps_one_of_two_real_models_loaded(tmp_path: Path) -> None:
    """Two local models (the bundled GGUF twice) and a budget for one: chatting with the second unloads the
    first, and the first loads again when its chat comes back."""
    import httpx

    from bostonia.app import build_services, create_app
    from bostonia.plugins import make_plugin_manager
    from tests.helpers import bearer, make_settings, new_conversation, register, serve_in_thread

    bundled = bundled_model_path()
    assert bundled is not None
    models = tmp_path / "models"
    models.mkdir()
    for name in ("smol-a", "smol-b"):
        (models / f"{name}.gguf").symlink_to(bundled)
    settings = make_settings(
        llm={
            "default_model": "smol-a",
            "models_dir": str(models),
            "context_size": 1024,
            "parallel": 1,
            "threads": 1,
            "max_tokens": 8,
            "memory_budget_mb": 200,
        },
        moderation={"enabled": False},
    )
    services = build_services(settings, make_plugin_manager([]))
    with (
        serve_in_thread(create_app(settings, services=services)) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        alice = register(client, "alice@example.com")

        def chat_with(model_id: str) -> str:
            conversation = new_conversation(client, alice)
            client.patch(
                f"/api/v1/conversations/{conversation['id']}",
                json={"settings": {"model": model_id}},
                headers=bearer(alice),
            )
            reply = client.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"content": "Hi"}, headers=bearer(alice)
            )
            assert reply.status_code == 201, reply.text
            return str(reply.json()["assistant_message"]["model_used"])

        def states() -> dict[str, str]:
            listed = client.get("/api/v1/ai/models", headers=bearer(alice)).json()
            return {m["id"]: m["state"] for m in listed["items"] if m["id"].startswith("smol")}

        assert chat_with("smol-a") == "smol-a"
        assert states() == {"smol-a": "loaded", "smol-b": "unloaded"}
        assert chat_with("smol-b") == "smol-b"
        assert states() == {"smol-a": "unloaded", "smol-b": "loaded"}
        assert chat_with("smol-a") == "smol-a"
        assert states() == {"smol-a": "loaded", "smol-b": "unloaded"}
        listing = client.get("/api/v1/ai/models", headers=bearer(alice)).json()
        assert 0 < listing["memory_in_use_bytes"] <= 200 * 1024 * 1024 == listing["memory_budget_bytes"]
    assert services.orchestrator.residency.unloads == 2
