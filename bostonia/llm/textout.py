"""From generated token bytes to the text a reply streams: UTF-8 split across tokens, and stop strings."""

from __future__ import annotations

import codecs


class StopBuffer:
    """Cuts the stream at the first stop string. Text that might be the start of a stop string is held
    back until the next piece shows whether it is (then it is never sent) or not (then it goes out)."""

    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self._held = ""
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> tuple[str, bool]:
        """Add a token's bytes; returns (text safe to send now, whether a stop string was reached)."""
        text = self._held + self._utf8.decode(data)
        if not self.stops:
            self._held = ""
            return text, False
        cut = min((index for stop in self.stops if (index := text.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return text[:cut], True
        keep = max((self._overlap(text, stop) for stop in self.stops), default=0)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What was held back, once the stream ends without reaching a stop string."""
        text = self._held + self._utf8.decode(b"", final=True)
        self._held = ""
        return text

    @staticmethod
    def _overlap(text: str, stop: str) -> int:
        """Length of the longest end of `text` that is a beginning of `stop`."""
        for size in range(min(len(text), len(stop) - 1), 0, -1):
            if text.endswith(stop[:size]):
                return size
        return 0
