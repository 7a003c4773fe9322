"""Issue 11: piper's real-time factor, and time-to-first-audio of a reply spoken while the bundled chat model
streams it (the voice socket following the conversation) against the baseline of synthesising the whole
reply once it is complete — both measured in the same run, on the same replies, on a real server process.

Goal: the first audio ≤ 1.0 s after the reply's first sentence ends.
"""

from __future__ import annotations

import json
import statistics
import struct
import threading
import time
from typing import Any

from benchmarks.common import account, median, running_server, serve_app
from bostonia import hookimpl
from bostonia.voice.engine import PiperEngine, VoiceCatalog
from bostonia.voice.sentences import SentenceCutter

SENTENCES = [
    "Hello there, traveller.",
    "The road to the castle is long, and the night is cold.",
    "Stay close to the fire.",
    "I will tell you the story of the old king who lived on the hill, and of the dragon that guarded his gold.",
    "Are you ready?",
    "Then listen carefully, because I will not say it twice.",
]
QUESTIONS = [
    "Tell me a story about a knight and a dragon.",
    "Describe the place where we are right now.",
    "What is your favourite memory?",
]
ENV = {"BOSTONIA_LLM_MAX_TOKENS": "120", "BOSTONIA_LLM_TEMPERATURE": "0", "BOSTONIA_RATE_LIMITS_FREE": "1000000"}


def real_time_factor(threads: int) -> tuple[float, float]:
    """(synthesis seconds per second of audio, audio seconds) for the bundled voice, one sentence at a time."""
    from pathlib import Path

    engine = PiperEngine(threads=threads)
    voice = VoiceCatalog(Path("models")).get(None)
    engine.load(voice)
    engine.synthesize(voice, "Warm up.", 1.0)
    spent = audio = 0.0
    for sentence in SENTENCES * 2:
        started = time.perf_counter()
        speech = engine.synthesize(voice, sentence, 1.0)
        spent += time.perf_counter() - started
        audio += speech.seconds
    return spent / audio, audio


def follow_audio(url: str, token: str, conversation_id: str, result: dict[str, Any], ready: threading.Event) -> None:
    """The voice socket: the arrival time and header of every audio frame of the next reply."""
    from websockets.sync.client import connect

    with connect(f"{url}/api/v1/voice/stream?token={token}", max_size=None) as socket:
        socket.send(json.dumps({"event": "voice:follow", "data": {"conversation_id": conversation_id}}))
        frames: list[tuple[float, dict[str, Any]]] = []
        while True:
            frame = socket.recv(timeout=300)
            if isinstance(frame, bytes):
                size = struct.unpack(">I", frame[:4])[0]
                frames.append((time.perf_counter(), json.loads(frame[4 : 4 + size])))
                continue
            event = json.loads(frame)
            if event["event"] == "voice:following":
                ready.set()
            elif event["event"] == "voice:utterance:end":
                result["frames"] = frames
                return


def stream_text(client: Any, headers: dict[str, str], conversation_id: str, question: str) -> dict[str, Any]:
    """Send a message and read its reply's events: when the first token came, when the first sentence ended
    (cut the way the server cuts it), when the reply was complete, and its text."""
    cutter = SentenceCutter()
    first_token = first_sentence = None
    text = ""
    event = None
    with client.stream(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": question},
        headers={**headers, "accept": "text/event-stream"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "message:stream:chunk":
                now = time.perf_counter()
                piece = json.loads(line[5:])["content"]
                first_token = first_token or now
                text += piece
                if first_sentence is None and cutter.feed(piece):
                    first_sentence = now
    complete = time.perf_counter()
    return {
        "first_token": first_token,
        "first_sentence": first_sentence or complete,
        "complete": complete,
        "text": text,
    }


class PacedModel:
    """A stand-in chat model writing a fixed story at a steady pace (≈ 25 tokens/s): the voice pipeline's own
    latency, without the chat model competing for the cores."""

    model_id = "paced"
    context_size = 4096
    story = (
        "The knight drew his sword, and the blade caught the light of the dying sun. Far below, the village "
        "bells were ringing. He had promised to return before nightfall, and he meant to keep that promise. "
        "The dragon would not wait for him, and neither would the king."
    )

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request: Any, should_stop: Any) -> Any:
        if request.prefill_only:
            return
        for index, word in enumerate(self.story.split(" ")):
            if should_stop():
                return
            time.sleep(0.04)
            yield word if index == 0 else f" {word}"


class PacedPlugin:
    @hookimpl
    def register_models(self, register: Any, settings: Any) -> None:
        register(PacedModel())


def measure(client: Any) -> list[dict[str, Any]]:
    rows = []
    headers = account(client, "voice@example.com")
    token = headers["Authorization"].split()[1]
    url = str(client.base_url).replace("http://", "ws://").rstrip("/")
    character = client.get("/api/v1/characters").json()["items"][0]["id"]
    for question in QUESTIONS:
        cid = client.post("/api/v1/conversations", json={"character_id": character}, headers=headers).json()["id"]
        result: dict[str, Any] = {}
        ready = threading.Event()
        listener = threading.Thread(target=follow_audio, args=(url, token, cid, result, ready))
        listener.start()
        ready.wait(30)
        reply = stream_text(client, headers, cid, question)
        listener.join(300)
        # Baseline: wait for the whole reply, then synthesise it in one request.
        started = time.perf_counter()
        whole = client.post(
            "/api/v1/voice/synthesize", json={"text": reply["text"], "voice_id": "en_US-joe-medium"}, headers=headers
        )
        whole.raise_for_status()
        baseline_audio = time.perf_counter() - started + reply["complete"]
        first_audio = result["frames"][0][0]
        rows.append(
            {
                "from_token": first_audio - reply["first_token"],
                "after_sentence": first_audio - reply["first_sentence"],
                "baseline_from_token": baseline_audio - reply["first_token"],
                "writing": reply["complete"] - reply["first_token"],
                "sentences": len(result["frames"]),
                "in_order": [h["index"] for _t, h in result["frames"]] == list(range(len(result["frames"]))),
                "audio": float(whole.headers["x-audio-seconds"]),
            }
        )
    return rows


def report(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"voice: time to first audio, {title} (median of {len(rows)} replies)")
    for row in rows:
        print(
            f"  reply written in {row['writing']:.2f} s, {row['sentences']} sentences ({row['audio']:.1f} s audio,"
            f" in order: {row['in_order']}): first audio {row['from_token']:.2f} s after the first token,"
            f" {row['after_sentence']:.2f} s after the first sentence ended;"
            f" baseline {row['baseline_from_token']:.2f} s"
        )
    streamed = median([r["from_token"] for r in rows])
    after = median([r["after_sentence"] for r in rows])
    baseline = median([r["baseline_from_token"] for r in rows])
    worst = max(r["after_sentence"] for r in rows)
    spread = statistics.pstdev([r["after_sentence"] for r in rows])
    print(f"  streamed: {streamed:.2f} s from the first token; {after:.2f} s after the first sentence ended")
    print(f"  (worst {worst:.2f} s, spread {spread:.2f} s; goal ≤ 1.0 s)")
    print(f"  baseline (whole reply synthesised at the end): {baseline:.2f} s from the first token")
    print(f"  ratio baseline / streamed: {baseline / streamed:.1f}x")


def main() -> None:
    print("voice: piper real-time factor (bundled en_US-joe-medium, one sentence at a time)")
    for threads in (1, 2):
        rtf, seconds = real_time_factor(threads)
        print(f"  threads={threads}: RTF {rtf:.3f} ({1 / rtf:.1f}x faster than real time, {seconds:.1f} s of audio)")
    limits = {"rate_limits": {"free": 1_000_000}}
    with serve_app({"llm": {"default_model": "paced"}, **limits}, [PacedPlugin()]) as client:
        report("a stand-in model writing 25 tokens/s", measure(client))
    with running_server(ENV) as client:
        report("replies of the bundled SmolLM2 (the model and piper share the cores)", measure(client))
