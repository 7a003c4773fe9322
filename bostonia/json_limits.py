"""Bounds on JSON from outside, checked without decoding it: how deep it nests, how large a free-form value is.

msgspec (like every recursive decoder) raises RecursionError at about 1,000 levels of nesting: unchecked, that
is a 500 on every JSON route, before authentication. Nothing this server reads nests anywhere near
`MAX_JSON_DEPTH` levels (a character card's deepest part, a lorebook entry's `extensions`, is a handful), so
anything deeper is refused (`too_deep`) by a scan that costs two `bytes.count` calls for almost every body and
one vectorised pass for the rest. Free-form values (a card's `extensions`, imported message metadata) are
stored verbatim and sent back in answers, so each has a size bound too (`check_json_size`).

A leaf module: the HTTP layer (bostonia.http.limits), the sockets and file importers all use it.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from bostonia.errors import BadRequest, PayloadTooLarge

MAX_JSON_DEPTH = 64
# A JSON string (escapes included), as one regex match: brackets inside strings do not nest anything.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth_exceeds(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests deeper than `limit` arrays/objects (invalid JSON is left to the
    decoder, unless its brackets alone already go too deep)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:  # it can't nest deeper than it has openers: the usual case
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    import numpy as np  # only for the rare text with many brackets; a Python loop over them would be the attack

    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    return bool(np.cumsum(steps).max() > limit)


def check_json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """BadRequest (400 `too_deep`) for JSON text nested deeper than `limit`."""
    if nesting_depth_exceeds(raw, limit):
        raise BadRequest(
            f"JSON nested deeper than {limit} levels is refused", code="too_deep", details={"max_depth": limit}
        )


def check_json_size(field: str, value: Any, max_bytes: int) -> None:
    """PayloadTooLarge (413 `field_too_large`, naming `field`) for a value whose JSON text is over `max_bytes`."""
    if value is None or value is msgspec.UNSET:
        return
    size = len(msgspec.json.encode(value))
    if size > max_bytes:
        raise PayloadTooLarge(
            f"`{field}` is {size:,} bytes of JSON; the limit is {max_bytes:,}",
            code="field_too_large",
            details={"field": field, "size": size, "max_bytes": max_bytes},
        )
