from __future__ import annotations

from litestar.params import URLEncodedBody

# An HTML form post, read leniently: pages validate fields themselves and re-render with a message.
Form = URLEncodedBody[dict[str, str]]
