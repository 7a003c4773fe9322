from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

from bostonia.billing.schemas import CreditBalance
from bostonia.identity import ContentTier, Role, Theme, Tier, User

DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Bio = Annotated[str, msgspec.Meta(max_length=2000)]
Language = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Profile(msgspec.Struct, kw_only=True):
    """What `GET /users/me` shows: the account as its owner sees it."""

    id: str
    email: str
    display_name: str
    bio: str
    role: Role
    tier: Tier
    is_active: bool
    email_verified: bool
    age_verified: bool
    date_of_birth: str | None
    content_tier: ContentTier
    has_password: bool
    linked_providers: list[str] = msgspec.field(default_factory=list)
    credits: CreditBalance | None = None  # the credit balance (billing's)
    created_at: str
    last_login_at: str | None


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    bio: Bio | msgspec.UnsetType = msgspec.UNSET
    # Above "sfw" only after /auth/verify-age confirmed an adult.
    content_tier: ContentTier | msgspec.UnsetType = msgspec.UNSET


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Required when the account has a password (accounts made through OIDC may not have one yet).
    current_password: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    new_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class AgeVerification(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    date_of_birth: datetime.date
    # The content tier to switch to when the date shows an adult.
    content_tier: ContentTier = "mature"


class Preferences(msgspec.Struct, kw_only=True):
    theme: Theme
    language: str
    notifications_enabled: bool
    memory_visible: bool
    typing_indicators: bool
    voice_autoplay: bool  # speak replies as they stream
    updated_at: str


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    theme: Theme | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    notifications_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    memory_visible: bool | msgspec.UnsetType = msgspec.UNSET
    typing_indicators: bool | msgspec.UnsetType = msgspec.UNSET
    voice_autoplay: bool | msgspec.UnsetType = msgspec.UNSET


class AdminUserUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: Role | msgspec.UnsetType = msgspec.UNSET
    tier: Tier | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    # Forget a recorded date of birth (a typo): the user verifies again; content goes back to sfw.
    reset_age_verification: bool = False


class UserList(msgspec.Struct):
    items: list[User]
