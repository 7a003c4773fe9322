"""The offensive-language classifier: alt-profanity-check's linear SVM (TF-IDF words -> probability).

Its weights ship inside the PyPI package (`profanity_check/data/*.joblib`), pickled with the exact
scikit-learn version the package pins (pyproject pins it too: any other version warns on load, and tests
treat warnings as errors). The files are read directly rather than through `import profanity_check`, so
nothing loads before the first check; the model is shared by every moderator in the process.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from bostonia.errors import Unavailable

PACKAGE = "profanity_check"


def _data_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("the offensive-language classifier (alt-profanity-check) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class OffensiveClassifier:
    """Probability that a text is offensive (insults, profanity, slurs), 0..1. Thread-safe, loads lazily."""

    _shared: tuple[Any, Any] | None = None
    _lock = threading.Lock()

    @classmethod
    def _load(cls) -> tuple[Any, Any]:
        with cls._lock:
            if cls._shared is None:
                import joblib

                folder = _data_dir()
                cls._shared = (joblib.load(folder / "vectorizer.joblib"), joblib.load(folder / "model.joblib"))
            return cls._shared

    def load(self) -> None:
        self._load()

    def probability(self, texts: list[str]) -> list[float]:
        vectorizer, model = self._load()
        return [float(row[1]) for row in model.predict_proba(vectorizer.transform(texts))]
