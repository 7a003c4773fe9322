"""Who someone is: the user identity every capability sees. A leaf module: it imports only the domain errors.

Roles, plan tiers and content tiers are defined here once; capabilities import them from here rather
than from each other (the users and characters packages both need them).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from bostonia.errors import PermissionDenied

Role = Literal["user", "creator", "admin"]
Tier = Literal["free", "plus", "pro", "creator"]
ContentTier = Literal["sfw", "mature", "adult"]
Theme = Literal["light", "dark", "system"]
ROLES: tuple[Role, ...] = ("user", "creator", "admin")
TIERS: tuple[Tier, ...] = ("free", "plus", "pro", "creator")
CONTENT_TIERS: tuple[ContentTier, ...] = ("sfw", "mature", "adult")
THEMES: tuple[Theme, ...] = ("light", "dark", "system")


class User(msgspec.Struct, kw_only=True):
    """A signed-in account as requests see it."""

    id: str
    email: str
    display_name: str
    role: Role
    tier: Tier
    is_active: bool
    age_verified: bool
    content_tier: ContentTier
    created_at: str
    theme: Theme = "system"  # from the preferences: every page needs it for <html data-theme>
    language: str = "en"  # from the preferences: the pages' language

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Operator(msgspec.Struct, frozen=True):
    """Whoever runs an admin command on the server's own machine (the CLI): allowed every admin action,
    recorded in the audit log without an account. Explicit, so that no missing actor means "admin"."""

    label: str = "cli"

    @property
    def id(self) -> None:
        return None

    @property
    def is_admin(self) -> bool:
        return True


# An admin action's actor: a signed-in user (checked to be an admin) or the operator.
Actor = User | Operator


def require_admin(actor: Actor) -> None:
    """Admin actions need an admin account or the operator; anyone else gets 403."""
    if not actor.is_admin:
        raise PermissionDenied("only admins can do this", code="admin_only")
