"""How values are stored: UUID text ids, ISO-8601 UTC timestamps, JSON text, 0/1 booleans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> str:
    """Milliseconds, 'Z' suffix: sorts lexically in time order, like the SQL default."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_in(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def from_json(text: str | None, default: Any = None) -> Any:
    return default if text is None else msgspec.json.decode(text)
