"""kill -9 a real server in the middle of a streamed reply, start it again, and check what survived.

Each round makes the server generate (a new message, then in turn a continuation of the interrupted reply
and a new swipe of it), waits until the reply's first checkpoint is on disk, and kills the process with
SIGKILL at a random moment up to 0.6 s later. After each kill: `bostonia db check` passes (integrity,
foreign keys, migrations), the server starts, every user message whose sending was acknowledged is there,
and the interrupted reply is on the conversation's path marked interrupted, holding at least the
checkpointed text.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import PASSWORD, SSE, parse_sse
from tests.soak.server import ServerProcess

API = "/api/v1/conversations"
EMAIL = "crash@example.com"
PROMPTS = [
    "Tell me a long story about the sea, with storms and a lighthouse.",
    "Describe your ship from bow to stern, every deck and every crew member.",
    "Tell me about the strangest port you ever visited, in great detail.",
]


@dataclass
class CrashRounds:
    rounds: int = 0
    failures: list[str] = field(default_factory=list)
    kept_chars: list[int] = field(default_factory=list)  # how much of each interrupted reply survived
    lost_chars: list[int] = field(default_factory=list)  # streamed to the client but not in the checkpoint
    restart_seconds: list[float] = field(default_factory=list)
    retries: int = 0  # replies that finished before their first checkpoint (tried again)


class Streamer(threading.Thread):
    """One streamed request; remembers whether it was acknowledged (the stream started) and the text seen."""

    def __init__(self, url: str, token: str, path: str, body: dict[str, Any] | None) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.path, self.body = url, token, path, body
        self.acknowledged = threading.Event()
        self.text = ""
        self.completed = False

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.url, timeout=60) as client,
                client.stream(
                    "POST", self.path, json=self.body, headers={"Authorization": f"Bearer {self.token}", **SSE}
                ) as response,
            ):
                for name, data in parse_sse(response.iter_lines()):
                    if name == "message:stream:start":
                        self.acknowledged.set()
                    elif name == "message:stream:chunk":
                        self.text += data.get("content", "")
                    elif name == "message:stream:complete":
                        self.completed = True
        except httpx.HTTPError:
            pass  # killed mid-stream, on purpose


def login(client: httpx.Client) -> str:
    response = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def wait_for_checkpoint(server: ServerProcess, streamer: Streamer, timeout: float = 60) -> dict[str, Any] | None:
    """The first checkpoint with text, or None if the reply ended (or the time ran out) before one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = server.query("select * from reply_checkpoints where content != ''")
        if rows:
            return rows[0]
        if streamer.completed or not streamer.is_alive():
            return None
        time.sleep(0.05)
    return None


def run_crash_rounds(data_dir: Path, rounds: int, *, env: dict[str, str] | None = None) -> CrashRounds:
    result = CrashRounds()
    server = ServerProcess(data_dir, env=env)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.post("/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}).raise_for_status()
            token = login(client)
            character = client.get("/api/v1/characters").json()["items"][0]
            conversation = client.post(
                API, json={"character_id": character["id"]}, headers={"Authorization": f"Bearer {token}"}
            ).json()
        cid = conversation["id"]
        acknowledged: list[str] = []
        interrupted: dict[str, Any] | None = None  # the last round's interrupted reply
        for round_number in range(rounds):
            mode = ("reply", "continue", "regenerate")[round_number % 3] if interrupted else "reply"
            checkpoint = None
            for attempt in range(3):
                prompt = f"[{round_number}.{attempt}] {PROMPTS[round_number % len(PROMPTS)]}"
                if mode == "reply":
                    path, body = f"{API}/{cid}/messages", {"content": prompt}
                else:
                    assert interrupted is not None
                    path, body = f"{API}/{cid}/messages/{interrupted['id']}/{mode}", None
                streamer = Streamer(server.url, token, path, body)
                streamer.start()
                if streamer.acknowledged.wait(60) and mode == "reply":
                    acknowledged.append(prompt)
                checkpoint = wait_for_checkpoint(server, streamer)
                if checkpoint is not None:
                    time.sleep(random.uniform(0, 0.6))  # the kill lands anywhere between two checkpoints
                    if not streamer.completed:
                        break
                    checkpoint = None
                result.retries += 1  # the reply finished before a checkpoint: ask again
                streamer.join(60)
                mode = "reply"
            if checkpoint is None:
                result.failures.append(f"round {round_number}: no reply lasted long enough to be checkpointed")
                continue
            server.kill()
            streamer.join(10)
            result.rounds += 1
            check = server.cli("db", "check")
            if check.returncode != 0:
                result.failures.append(f"round {round_number}: db check failed: {check.stdout[-300:]}")
            started = time.monotonic()
            server.start()
            result.restart_seconds.append(round(time.monotonic() - started, 2))
            with httpx.Client(base_url=server.url, timeout=60) as client:
                token = login(client)
                items = client.get(f"{API}/{cid}/messages", headers={"Authorization": f"Bearer {token}"}).json()
            path_messages = items["items"]
            have = {m["content"] for m in path_messages if m["role"] == "user"}
            every = server.query("select content from messages where role = 'user'")
            stored = {row["content"] for row in every}
            missing = [text for text in acknowledged if text not in stored]
            if missing:
                result.failures.append(f"round {round_number}: acknowledged user messages lost: {missing}")
            last = path_messages[-1]
            text = checkpoint["content"]
            expected = checkpoint["prefix"] + (text.rstrip() if checkpoint["mode"] == "continue" else text.strip())
            if last["id"] != checkpoint["message_id"] or last["role"] != "assistant":
                result.failures.append(f"round {round_number}: the interrupted reply is not the path's last message")
            elif last["status"] != "partial" or not last["metadata"].get("interrupted"):
                result.failures.append(f"round {round_number}: the interrupted reply is not marked: {last['status']}")
            elif not last["content"].startswith(expected):
                result.failures.append(f"round {round_number}: the reply lost checkpointed text")
            else:
                kept = len(last["content"]) - len(checkpoint["prefix"])
                result.kept_chars.append(kept)
                result.lost_chars.append(max(0, len(streamer.text.strip()) - kept))
                interrupted = last
            if mode == "reply" and body and body["content"] not in have:
                result.failures.append(f"round {round_number}: the user message is not on the path")
            if server.query("select count(*) as n from reply_checkpoints")[0]["n"]:
                result.failures.append(f"round {round_number}: checkpoints left after recovery")
    finally:
        if result.failures:
            result.failures.append("server log: " + server.log_tail(1500))
        server.stop()
    return result


def summary(result: CrashRounds) -> dict[str, Any]:
    def median(values: list[float] | list[int]) -> float:
        ordered = sorted(values)
        return float(ordered[len(ordered) // 2]) if ordered else 0.0

    return {
        "kill9_rounds": result.rounds,
        "kept_chars_median": median(result.kept_chars),
        "streamed_not_kept_chars_max": max(result.lost_chars, default=0),
        "restart_s_median": median(result.restart_seconds),
        "retried": result.retries,
    }
