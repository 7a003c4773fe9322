"""Encoding synthesised speech: 16-bit mono PCM as WAV (stdlib), Ogg Opus or MP3.

Opus and MP3 come from `soundfile`, whose PyPI wheels carry libsndfile 1.2 with its Opus and LAME
encoders: no system library needed. Without it only PCM and WAV are offered (`available_formats`).
Opus runs at 8/12/16/24/48 kHz only, so piper's 22.05 kHz is resampled to 24 kHz first.
"""

from __future__ import annotations

import io
import wave
from typing import Literal

AudioFormat = Literal["pcm", "wav", "opus", "mp3"]
MEDIA_TYPES: dict[str, str] = {
    "pcm": "audio/L16",
    "wav": "audio/wav",
    "opus": "audio/ogg; codecs=opus",
    "mp3": "audio/mpeg",
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
SAMPLE_WIDTH = 2  # bytes: 16-bit


def silence(sample_rate: int, seconds: float) -> bytes:
    return b"\0\0" * int(sample_rate * seconds)


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def _encoder_available() -> bool:
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the wheel's libsndfile could not be loaded
        return False
    formats = soundfile.available_formats()
    return "OGG" in formats and "MP3" in formats


def available_formats() -> tuple[AudioFormat, ...]:
    return ("pcm", "wav", "opus", "mp3") if _encoder_available() else ("pcm", "wav")


def resample(pcm: bytes, rate: int, target: int) -> bytes:
    """Linear interpolation: enough for speech going up from 22.05 to 24 kHz."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    if rate == target or samples.size == 0:
        return pcm
    count = round(samples.size * target / rate)
    points = np.linspace(0, samples.size - 1, count)
    return np.interp(points, np.arange(samples.size), samples).round().astype(np.int16).tobytes()


def encode(pcm: bytes, sample_rate: int, audio_format: AudioFormat) -> bytes:
    if audio_format == "pcm":
        return pcm
    if audio_format == "wav":
        return wav_bytes(pcm, sample_rate)
    import numpy as np
    import soundfile

    if audio_format == "opus":
        target = next((rate for rate in OPUS_RATES if rate >= sample_rate), OPUS_RATES[-1])
        pcm, sample_rate = resample(pcm, sample_rate, target), target
        container, subtype = "OGG", "OPUS"
    else:
        container, subtype = "MP3", "MPEG_LAYER_III"
    buffer = io.BytesIO()
    soundfile.write(buffer, np.frombuffer(pcm, dtype=np.int16), sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()
