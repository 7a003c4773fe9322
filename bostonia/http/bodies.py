"""Request bodies the typed `data` parameter cannot express."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from bostonia.json_limits import check_json_depth

S = TypeVar("S", bound=msgspec.Struct)


async def optional_body(request: Request[Any, Any, Any], schema: type[S]) -> S:
    """A JSON body that may be absent altogether (an empty POST or DELETE): then the schema's defaults."""
    body = await request.body()
    if not body.strip():
        return schema()
    check_json_depth(body)
    try:
        return msgspec.json.decode(body, type=schema)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise ValidationException(f"invalid request body: {exc}") from None
