from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal["user", "creator", "admin"]
Tier = Literal["free", "plus", "pro", "creator"]
ContentTier = Literal["sfw", "mature", "adult"]
ROLES: tuple[Role, ...] = ("user", "creator", "admin")


class User(msgspec.Struct, kw_only=True):
    id: str
    email: str
    display_name: str
    role: Role
    tier: Tier
    is_active: bool
    age_verified: bool
    content_tier: ContentTier
    created_at: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
