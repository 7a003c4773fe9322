from __future__ import annotations

from typing import Any

import msgspec


class AuditEntry(msgspec.Struct, kw_only=True):
    id: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    created_at: str


class AuditList(msgspec.Struct):
    items: list[AuditEntry]
