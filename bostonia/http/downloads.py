"""Download headers: `Content-Disposition` with a safe ASCII name and the exact name per RFC 6266/5987."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote


def attachment(stem: str, extension: str) -> dict[str, str]:
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._ -]+", "", ascii_stem).strip(" .")[:80] or "download"
    exact = quote(f"{stem[:80]}.{extension}", safe="")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_stem}.{extension}\"; filename*=UTF-8''{exact}"}
