"""Small helpers for msgspec Structs shared by every capability (a leaf module)."""

from __future__ import annotations

from typing import Any

import msgspec


def changes_of(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually set."""
    return {
        field: value for field in update.__struct_fields__ if (value := getattr(update, field)) is not msgspec.UNSET
    }
