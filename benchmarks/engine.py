"""Issue 15: the batching engine, through the HTTP API (SSE) of a real `bostonia serve`, greedy 96-token replies.

(a) one stream vs a bare `llama_decode` loop (same model, same prompt, same run; goal >= 0.9x)
(b) 4 and 8 users at once: aggregate tokens/s vs the bare loop at 4 and 8 sequences (goal >= 0.85x);
    TTFT p50/p99 with 4 users vs a lone user (goals <= 2x, <= 3x)
(c) side by side with llama.cpp's own `llama-server -np 4` (same GGUF, same prompts, one after the other):
    aggregate tokens/s (goal >= 1.0x) and TTFT p50 (goal: no worse)
(d) back to a 3,000-token conversation after others ran vs a full re-prefill (goal <= 0.02x);
    GET /api/v1/characters p99 while 4 replies stream (goal <= 15 ms)
(e) server RSS with 1, 4 and 8 slots of 4,096 tokens (KV memory is parallel x context_size)
(f) a long chat's kept history starts later (its oldest ~900 tokens leave the prompt): the next reply's TTFT
    with context shift vs reading the rest again, in the engine itself

The servers and the bare loop never run at the same time (2 cores). `python -m benchmarks engine`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.chat_engine import import_chat, long_chat
from benchmarks.common import account, median, percentile, running_server, stream_reply
from benchmarks.llama_server import running_llama_server
from bostonia.llm.base import ChatMessage, GenerationRequest, Role, SamplingParams
from bostonia.llm.local import LlamaCppModel, bundled_model_path

MAX_TOKENS = 96
THREADS = 2
QUESTIONS = [
    "Tell me a long story about the sea and the ships that sail on it.",
    "Describe your home town in great detail, street by street.",
    "What happened on your last adventure? Tell it from the start.",
    "Explain how the stars move across the sky, slowly and carefully.",
    "Tell me about the people you trust most, one by one.",
    "What is the strangest thing you have ever eaten, and where?",
    "Describe the seasons where you live, from spring to winter.",
    "Tell me about a day when everything went wrong.",
]
ENV = {
    "BOSTONIA_LLM_TEMPERATURE": "0",
    "BOSTONIA_LLM_MAX_TOKENS": str(MAX_TOKENS),
    "BOSTONIA_LLM_THREADS": str(THREADS),
}
ENV_LIMITS = {"BOSTONIA_RATE_LIMITS_FREE": "1000000", "BOSTONIA_RATE_LIMITS_ANONYMOUS": "1000000"}


class BareLoop:
    """The engine's own limit: greedy argmax over llama_decode, N sequences in one batch, no server."""

    def __init__(self, model: LlamaCppModel) -> None:
        import numpy as np

        from bostonia.llm import native

        self.np, self.lib = np, native.api()
        self.native = model.load()

    def run(
        self, prompts: list[list[int]], steps: int = MAX_TOKENS, *, unified: bool = True, flash: bool = False
    ) -> float:
        """Aggregate tokens/s. `unified`: one KV buffer for all sequences (the issue's loop) or a stream
        each (as the engine has it; each token then attends over its own sequence only). `flash`: llama.cpp's
        default attention choice ("auto": flash attention on a CPU), else plain attention (the engine's)."""
        lib, np, count = self.lib, self.np, len(prompts)
        params = lib.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 4096 * count, 512, 512
        params.n_seq_max, params.kv_unified = count, unified
        params.flash_attn_type = -1 if flash else 0
        params.n_threads = params.n_threads_batch = THREADS
        ctx = lib.llama_init_from_model(self.native.ptr, params)
        batch = lib.llama_batch_init(512, 0, 1)

        def fill(entries: list[tuple[int, int, int, bool]]) -> None:
            for index, (token, pos, seq, logits) in enumerate(entries):
                batch.token[index], batch.pos[index], batch.n_seq_id[index] = token, pos, 1
                batch.seq_id[index][0], batch.logits[index] = seq, logits
            batch.n_tokens = len(entries)

        def argmax(index: int) -> int:
            logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, index), shape=(self.native.n_vocab,))
            return int(logits.argmax())

        last, position = [], []
        for seq, prompt in enumerate(prompts):
            for start in range(0, len(prompt), 512):
                chunk = prompt[start : start + 512]
                fill([(t, start + i, seq, start + i == len(prompt) - 1) for i, t in enumerate(chunk)])
                assert lib.llama_decode(ctx, batch) == 0
            last.append(argmax(batch.n_tokens - 1))
            position.append(len(prompt))
        started = time.perf_counter()
        for _ in range(steps):
            fill([(last[seq], position[seq], seq, True) for seq in range(count)])
            assert lib.llama_decode(ctx, batch) == 0
            for seq in range(count):
                last[seq] = argmax(seq)
                position[seq] += 1
        elapsed = time.perf_counter() - started
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
        return count * steps / elapsed


def prompt_messages(client: httpx.Client, headers: dict[str, str], conversation: str, text: str) -> list[ChatMessage]:
    """The messages Bostonia sends the model for `text` sent now (from its prompt inspector)."""
    view = client.get(f"/api/v1/conversations/{conversation}/prompt", params={"content": text}, headers=headers)
    view.raise_for_status()
    sections = view.json()["sections"]
    system = "\n\n".join(s["content"] for s in sections if s["role"] == "system")
    messages = [ChatMessage("system", system)]
    for section in sections:
        if section["role"] == "system":
            continue
        if section["name"] == "post_history_instructions" and messages[-1].role == "user":
            messages[-1] = ChatMessage("user", f"{messages[-1].content}\n\n{section['content']}")
        else:
            messages.append(ChatMessage(section["role"], section["content"]))
    return messages


class Chats:
    """Users with a conversation each on a running Bostonia."""

    def __init__(self, client: httpx.Client, count: int) -> None:
        self.client = client
        characters = client.get("/api/v1/characters").json()["items"]
        self.users = [account(client, f"engine{n}@example.com") for n in range(count)]
        self.conversations = [
            client.post(
                "/api/v1/conversations",
                json={"character_id": characters[n % len(characters)]["id"]},
                headers=self.users[n],
            ).json()["id"]
            for n in range(count)
        ]
        self.sent: list[tuple[int, list[ChatMessage]]] = []  # every prompt sent, for the llama-server replay

    def send(self, n: int, content: str, start: threading.Barrier | None = None) -> dict[str, Any]:
        messages = prompt_messages(self.client, self.users[n], self.conversations[n], content)
        self.sent.append((n, messages))
        if start is not None:
            start.wait()  # the baseline's prompt views all taken before any measured request is sent
        result = stream_reply(self.client, self.users[n], self.conversations[n], content)
        result["tokens"] = result["message"].get("tokens_used") or len(result["stamps"])
        result["messages"] = messages
        return result

    def together(self, indexes: list[int], turn: int) -> list[dict[str, Any]]:
        results: dict[int, dict[str, Any]] = {}
        start = threading.Barrier(len(indexes))

        def one(n: int) -> None:
            results[n] = self.send(n, QUESTIONS[(n + turn) % len(QUESTIONS)], start)

        threads = [threading.Thread(target=one, args=(n,)) for n in indexes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [results[n] for n in indexes]


def ttft(result: dict[str, Any]) -> float:
    return float(result["stamps"][0] - result["started"]) if result["stamps"] else float("inf")


def last_token(result: dict[str, Any]) -> float:
    """When the last text arrived (the reply's completion event comes after its final moderation check and
    storage; llama-server's results have no such event)."""
    return float(result["stamps"][-1]) if result["stamps"] else float(result["finished"])


def aggregate(results: list[dict[str, Any]]) -> float:
    """Tokens of all replies over the wall time from the first request to the last token (TTFT included:
    reading the new messages is work the bare loop does not do)."""
    wall = max(last_token(r) for r in results) - min(r["started"] for r in results)
    return sum(r["tokens"] for r in results) / wall


def streaming(results: list[dict[str, Any]]) -> float:
    """Tokens after each reply's first over the time from the first token of any to the last of all."""
    wall = max(last_token(r) for r in results) - min(r["stamps"][0] for r in results)
    return sum(r["tokens"] - 1 for r in results) / wall


def lone_decode(result: dict[str, Any]) -> float:
    """Tokens after the first over the time from the first token to the last, as the reader sees them."""
    return float((result["tokens"] - 1) / max(1e-6, last_token(result) - result["stamps"][0]))


def settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)  # the after-reply warm-ups finish before the next measurement


def bostonia_parts_ab(model: LlamaCppModel) -> dict[str, Any]:
    with running_server({**ENV, **ENV_LIMITS, "BOSTONIA_LLM_PARALLEL": "8"}) as client:
        chats = Chats(client, 8)
        for n in range(8):  # every conversation read once (model load, card prompt in its slot)
            chats.send(n, "Hello there!")
        settle()
        lone = []
        for turn in range(3):
            lone.append(chats.send(0, QUESTIONS[(turn + 1) % len(QUESTIONS)]))
            settle()
        four, eight = [], []
        for turn in range(2):
            four.append(chats.together([0, 1, 2, 3], turn + 2))
            settle()
        for turn in range(2):
            eight.append(chats.together(list(range(8)), turn + 4))
            settle()
    for result in [*lone, *(r for round_ in four + eight for r in round_)]:
        result["prompt"] = model.prompt_tokens(result["messages"])
    return {"lone": lone, "four": four, "eight": eight}


def bostonia_part_c() -> tuple[list[list[dict[str, Any]]], list[tuple[int, list[ChatMessage]]]]:
    with running_server({**ENV, **ENV_LIMITS, "BOSTONIA_LLM_PARALLEL": "4"}) as client:
        chats = Chats(client, 4)
        chats.together([0, 1, 2, 3], 0)  # warm round: each conversation's first reply
        settle()
        rounds = []
        for turn in range(2):
            rounds.append(chats.together([0, 1, 2, 3], turn + 1))
            settle()
        return rounds, chats.sent


def llama_server_part_c(model: LlamaCppModel, sent: list[tuple[int, list[ChatMessage]]]) -> list[list[dict[str, Any]]]:
    path = bundled_model_path()
    assert path is not None
    stops = ["\nBench:", "\nUser:"]  # the stop strings Bostonia adds (the persona is the account's name)
    with running_llama_server(path, parallel=4, context_per_slot=4096, threads=THREADS) as url:
        client = httpx.Client(base_url=url, timeout=600)

        def complete(messages: list[ChatMessage], out: list[dict[str, Any]]) -> None:
            body = {
                "prompt": model.render(messages),
                "n_predict": MAX_TOKENS,
                "temperature": 0,
                "repeat_penalty": 1.1,
                "top_k": 40,
                "top_p": 0.95,
                "min_p": 0.05,
                "stop": stops,
                "stream": True,
                "cache_prompt": True,
            }
            started, stamps, text = time.perf_counter(), [], ""
            with client.stream("POST", "/completion", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event.get("content"):
                            stamps.append(time.perf_counter())
                            text += event["content"]
            out.append(
                {
                    "started": started,
                    "stamps": stamps,
                    "finished": time.perf_counter(),
                    "tokens": model.count_tokens(text.strip()),
                }
            )

        rounds = []
        for batch in range(len(sent) // 4):
            results: list[dict[str, Any]] = []
            prompts = [messages for _, messages in sent[batch * 4 : batch * 4 + 4]]
            threads = [threading.Thread(target=complete, args=(messages, results)) for messages in prompts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rounds.append(results)
            settle()
        client.close()
    return rounds[1:]  # the first round only warms the slots, as on the Bostonia side


def part_d() -> dict[str, Any]:
    rng = random.Random(7)
    with running_server({**ENV, **ENV_LIMITS, "BOSTONIA_LLM_PARALLEL": "4"}) as client:
        owner = account(client, "history@example.com")
        character = client.get("/api/v1/characters").json()["items"][0]
        history = import_chat(client, owner, character["id"], long_chat("alpha", character["name"], 64, rng))
        size = client.get(f"/api/v1/conversations/{history}/prompt", headers=owner).json()["total_tokens"]
        full = ttft(stream_reply(client, owner, history, "What did we talk about?"))  # reads all of it
        settle()
        others = Chats(client, 4)
        others.together([0, 1, 2], 0)  # three others chat while the long conversation waits
        settle()
        back = ttft(stream_reply(client, owner, history, "Go on."))
        settle()
        idle = [timed_get(client, owner) for _ in range(100)]
        busy: list[float] = []
        streams = threading.Thread(target=others.together, args=([0, 1, 2, 3], 1))
        streams.start()
        while streams.is_alive():
            busy.append(timed_get(client, owner))
        streams.join()
        settle()
        evicted_back = ttft(stream_reply(client, owner, history, "And then?"))  # four others had its slot: restored
    return {"size": size, "full": full, "back": back, "evicted_back": evicted_back, "idle": idle, "busy": busy}


def timed_get(client: httpx.Client, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    client.get("/api/v1/characters", headers=headers).raise_for_status()
    return (time.perf_counter() - started) * 1000


def part_e() -> dict[int, float]:
    rss = {}
    for parallel in (1, 4, 8):
        with running_server({**ENV, **ENV_LIMITS, "BOSTONIA_LLM_PARALLEL": str(parallel)}) as client:
            chats = Chats(client, 1)
            chats.send(0, "Hello!")
            rss[parallel] = server_rss_mb(client.server_pid)  # type: ignore[attr-defined]
    return rss


def never() -> bool:
    return False


def part_f(path: Path) -> dict[str, list[float]]:
    """TTFT of the reply after a move of the history's start, with and without context shift."""
    words = "river lantern road harbour ember meadow signal orchard tower bridge".split()
    times: dict[str, list[float]] = {"shift": [], "exact": [], "tokens": [], "dropped": []}
    for n in range(3):
        rng = random.Random(n)
        chat = [ChatMessage("system", "You are Captain Mira Vance, a cargo pilot. Stay in character.")]
        for turn in range(56):
            role: Role = "user" if turn % 2 == 0 else "assistant"
            chat.append(ChatMessage(role, f"Turn {turn}: " + " ".join(rng.choice(words) for _ in range(40)) + "."))
        first = [*chat, ChatMessage("user", "Go on.")]
        moved = [chat[0], *chat[17:], ChatMessage("user", "Go on."), ChatMessage("assistant", "We fly.")]
        moved.append(ChatMessage("user", "Where to now?"))
        for mode, shift in (("shift", True), ("exact", False)):
            model = LlamaCppModel(path, context_size=4096, parallel=1, threads=THREADS, context_shift=shift)
            try:
                if shift:
                    size = len(model.prompt_tokens(first))
                    times["tokens"].append(len(model.prompt_tokens(moved)))
                    times["dropped"].append(size - len(model.prompt_tokens([chat[0], *chat[17:], first[-1]])))
                params = SamplingParams(max_tokens=8, temperature=0.0)
                "".join(model.stream(GenerationRequest(messages=tuple(first), params=params, session="f"), never))
                started = time.perf_counter()
                request = GenerationRequest(messages=tuple(moved), params=params, session="f")
                next(iter(model.stream(request, never)))
                times[mode].append(time.perf_counter() - started)
            finally:
                model.close()
    return times


def server_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """All parts; `ENGINE_BENCH_PARTS=ab` (any of a-f; a and b run together) runs some."""
    parts = set(os.environ.get("ENGINE_BENCH_PARTS", "abcdef"))
    load = os.getloadavg()[0]
    print(f"engine: bundled model, greedy, {MAX_TOKENS}-token replies, {THREADS} threads, load {load:.1f} (2 cores)")
    path = bundled_model_path()
    assert path is not None
    model = LlamaCppModel(path, context_size=4096, threads=THREADS)
    if parts & {"a", "b"}:
        part_ab(model)
    if "c" in parts:
        part_c(model)
    if "d" in parts:
        print_part_d()
    if "e" in parts:
        rss = part_e()
        sizes = ", ".join(f"{n} slot(s) {mb:.0f} MB" for n, mb in rss.items())
        per_slot = (rss[8] - rss[1]) / 7
        print(
            f"  (e) server RSS after a reply, 4,096-token slots: {sizes}; {per_slot:.0f} MB per extra slot", flush=True
        )
    if "f" in parts:
        f = part_f(path)
        shift, exact = median(f["shift"]), median(f["exact"])
        print(
            f"  (f) after the history's start moved ({median(f['dropped']):.0f} old tokens out, a "
            f"{median(f['tokens']):.0f}-token prompt): TTFT with context shift {shift:.2f}s vs reading it again "
            f"{exact:.2f}s = {shift / exact:.3f}x (median of 3)",
            flush=True,
        )
    print(f"  machine load at the end {os.getloadavg()[0]:.1f} (2 cores)")


def part_ab(model: LlamaCppModel) -> None:
    ab = bostonia_parts_ab(model)
    bare_loop = BareLoop(model)
    # The baseline decodes the prompts each measurement sent, in the same groups: a chat grows with every
    # turn, and decoding slows with the context (in two runs here: 4 sequences at ~700 tokens of context
    # 154 tok/s, at ~970 tokens 94).
    # The fastest of the KV layouts and attention kernels at each size is the baseline.
    groups = {1: [[r] for r in ab["lone"]], 4: ab["four"], 8: ab["eight"]}
    variants = [(unified, flash) for unified in (True, False) for flash in (True, False)]
    layouts = {
        n: {
            (unified, flash): statistics.mean(
                bare_loop.run([r["prompt"] for r in group], unified=unified, flash=flash) for group in groups[n]
            )
            for unified, flash in variants
        }
        for n in groups
    }
    bare = {n: max(speeds.values()) for n, speeds in layouts.items()}
    prompt_sizes = {n: [len(r["prompt"]) for group in groups[n] for r in group] for n in groups}
    print(
        "      bare loop on the same prompts ("
        + ", ".join(f"{n} seq {min(ls)}-{max(ls)} tokens" for n, ls in prompt_sizes.items())
        + "), unified KV / a stream per sequence, each with flash / plain attention: "
        + ", ".join(
            f"{n} seq " + "/".join(f"{speeds[variant]:.0f}" for variant in variants) + " tok/s"
            for n, speeds in layouts.items()
        ),
        flush=True,
    )

    single = median([lone_decode(r) for r in ab["lone"]])
    lone_ttft = median([ttft(r) for r in ab["lone"]])
    agg4, agg8 = median([aggregate(r) for r in ab["four"]]), median([aggregate(r) for r in ab["eight"]])
    stream4, stream8 = median([streaming(r) for r in ab["four"]]), median([streaming(r) for r in ab["eight"]])
    ttft4 = [ttft(r) for round_ in ab["four"] for r in round_]
    p50, p99 = percentile(ttft4, 50), percentile(ttft4, 99)
    print(
        f"  (a) one stream: decode {single:.0f} tok/s = {single / bare[1]:.2f}x the bare loop's {bare[1]:.0f} "
        "(goal >= 0.9)",
        flush=True,
    )
    print(
        f"  (b) 4 users: {agg4:.0f} tok/s aggregate = {agg4 / bare[4]:.2f}x bare-4 {bare[4]:.0f}; "
        f"8 users: {agg8:.0f} tok/s = {agg8 / bare[8]:.2f}x bare-8 {bare[8]:.0f} (goal >= 0.85)"
    )
    lengths = [r["tokens"] for round_ in ab["four"] + ab["eight"] for r in round_]
    print(
        f"      replies of {min(lengths)}-{max(lengths)} tokens (mean {statistics.mean(lengths):.0f}; the bare loop "
        f"decodes {MAX_TOKENS} for every sequence: replies that end early leave the last with fewer beside them)"
    )
    print(
        f"      from the first token to the last: 4 users {stream4:.0f} tok/s = "
        f"{stream4 / bare[4]:.2f}x, 8 users {stream8:.0f} tok/s = {stream8 / bare[8]:.2f}x"
    )
    print(
        f"      TTFT 4 users p50 {p50:.2f}s = {p50 / lone_ttft:.1f}x, p99 {p99:.2f}s = {p99 / lone_ttft:.1f}x "
        f"a lone user's {lone_ttft:.2f}s (goals <= 2x, <= 3x)",
        flush=True,
    )


def part_c(model: LlamaCppModel) -> None:
    ours, sent = bostonia_part_c()
    theirs = llama_server_part_c(model, sent)
    our_agg, their_agg = median([aggregate(r) for r in ours]), median([aggregate(r) for r in theirs])
    our_p50 = percentile([ttft(r) for rs in ours for r in rs], 50)
    their_p50 = percentile([ttft(r) for rs in theirs for r in rs], 50)
    print(
        f"  (c) 4 users vs llama-server -np 4: aggregate {our_agg:.0f} vs {their_agg:.0f} tok/s = "
        f"{our_agg / their_agg:.2f}x (goal >= 1.0); TTFT p50 {our_p50:.2f}s vs {their_p50:.2f}s "
        "(goal: no worse)",
        flush=True,
    )


def print_part_d() -> None:
    d = part_d()
    print(
        f"  (d) back to a {d['size']}-token conversation after 3 others ran: TTFT {d['back']:.2f}s vs full read "
        f"{d['full']:.1f}s = {d['back'] / d['full']:.3f}x (goal <= 0.02); after 4 others took its slot (restored "
        f"from the KV-state cache) {d['evicted_back']:.2f}s = {d['evicted_back'] / d['full']:.3f}x"
    )
    idle50, idle99 = percentile(d["idle"], 50), percentile(d["idle"], 99)
    print(
        f"      GET /api/v1/characters p50/p99 idle {idle50:.1f}/{idle99:.1f} ms, "
        f"while 4 replies stream {percentile(d['busy'], 50):.1f}/{percentile(d['busy'], 99):.1f} ms over "
        f"{len(d['busy'])} requests (goal p99 <= 15 ms)",
        flush=True,
    )


if __name__ == "__main__":
    main()
