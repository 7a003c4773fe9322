"""Accounts as their owners and admins see them: profile, preferences, age verification, and the
administration the CLI and the admin pages share (roles, tiers, disabling, deletion)."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

from bostonia.config import AuthConfig, PrivacyConfig
from bostonia.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bostonia.identity import ROLES, TIERS, User
from bostonia.users.schemas import (
    AgeVerification,
    Preferences,
    PreferencesUpdate,
    Profile,
    ProfileUpdate,
)
from bostonia.users.store import DeleteMode, UserStore

OLDEST_AGE = 130


def age_on(date_of_birth: datetime.date, today: datetime.date) -> int:
    return today.year - date_of_birth.year - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))


def changes_of(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually set."""
    return {
        field: value for field in update.__struct_fields__ if (value := getattr(update, field)) is not msgspec.UNSET
    }


def require_admin(actor: User | None) -> None:
    """Admin actions come from an admin, or from the CLI (actor None: whoever runs it owns the server)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("only admins can do this", code="admin_only")


class UserService:
    def __init__(
        self,
        users: UserStore,
        *,
        auth_config: AuthConfig | None = None,
        privacy: PrivacyConfig | None = None,
    ) -> None:
        self.users = users
        self.auth_config = auth_config or AuthConfig()
        self.privacy = privacy or PrivacyConfig()

    # -- the signed-in user's own account ---------------------------------------------------------

    async def profile(self, user: User) -> Profile:
        profile = await self.users.profile(user.id)
        if profile is None:
            raise NotFound("user not found")
        return profile

    async def update_profile(self, user: User, update: ProfileUpdate) -> Profile:
        changes = changes_of(update)
        if "display_name" in changes:
            changes["display_name"] = changes["display_name"].strip()
            if not changes["display_name"]:
                raise InvalidInput("display_name must not be blank", details={"field": "display_name"})
        if changes.get("content_tier", "sfw") != "sfw" and not user.age_verified:
            raise PermissionDenied(
                "verify your age (POST /api/v1/auth/verify-age) before choosing mature or adult content",
                code="age_verification_required",
            )
        await self.users.update_profile(user.id, changes)
        return await self.profile(user)

    async def verify_age(
        self, user: User, verification: AgeVerification, *, today: datetime.date | None = None
    ) -> Profile:
        """Record the date of birth; adults get `age_verified` and the content tier they asked for,
        minors stay on sfw. The date is recorded once: changing it takes an admin."""
        today = today or datetime.datetime.now(datetime.UTC).date()
        born = verification.date_of_birth
        if born > today:
            raise InvalidInput("date_of_birth is in the future", details={"field": "date_of_birth"})
        age = age_on(born, today)
        if age > OLDEST_AGE:
            raise InvalidInput("date_of_birth is not plausible", details={"field": "date_of_birth"})
        recorded = (await self.profile(user)).date_of_birth
        if recorded is not None and recorded != born.isoformat():
            raise Conflict(
                "a different date of birth is already on record; ask an admin to correct it",
                code="date_of_birth_recorded",
            )
        adult = age >= self.auth_config.adult_age
        await self.users.set_age(
            user.id,
            date_of_birth=born.isoformat(),
            age_verified=adult,
            content_tier=verification.content_tier if adult else "sfw",
        )
        return await self.profile(user)

    async def preferences(self, user: User) -> Preferences:
        preferences = await self.users.preferences(user.id)
        if preferences is None:
            raise NotFound("preferences not found")
        return preferences

    async def update_preferences(self, user: User, update: PreferencesUpdate) -> Preferences:
        await self.users.update_preferences(user.id, changes_of(update))
        return await self.preferences(user)

    # -- administration --------------------------------------------------------------------------

    async def list(self, *, actor: User | None = None) -> list[User]:
        require_admin(actor)
        return await self.users.list()

    async def find(self, email_or_id: str, *, actor: User | None = None) -> User:
        """Look a user up by email (what admins type) or by id."""
        require_admin(actor)
        email_or_id = email_or_id.strip()
        if "@" in email_or_id:
            user = await self.users.get_by_email(email_or_id)
        else:
            user = await self.users.get(email_or_id)
        if user is None:
            raise NotFound(f"no user {email_or_id!r}")
        return user

    async def show(self, email_or_id: str, *, actor: User | None = None) -> Profile:
        return await self.profile(await self.find(email_or_id, actor=actor))

    async def _keep_an_admin(self, target: User) -> None:
        if target.is_admin and target.is_active and await self.users.count_active_admins() <= 1:
            raise Conflict("this is the last active admin; make another admin first", code="last_admin")

    async def set_role(self, email_or_id: str, role: str, *, actor: User | None = None) -> User:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", details={"field": "role"})
        user = await self.find(email_or_id, actor=actor)
        if role != "admin":
            await self._keep_an_admin(user)
        await self.users.set_role(user.id, role, actor_id=actor.id if actor else None)
        return await self.find(user.id)

    async def set_tier(self, email_or_id: str, tier: str, *, actor: User | None = None) -> User:
        if tier not in TIERS:
            raise InvalidInput(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}", details={"field": "tier"})
        user = await self.find(email_or_id, actor=actor)
        await self.users.set_tier(user.id, tier, actor_id=actor.id if actor else None)
        return await self.find(user.id)

    async def set_active(self, email_or_id: str, active: bool, *, actor: User | None = None) -> User:
        user = await self.find(email_or_id, actor=actor)
        if not active:
            await self._keep_an_admin(user)
        await self.users.set_active(user.id, active, actor_id=actor.id if actor else None)
        return await self.find(user.id)

    async def reset_age(self, email_or_id: str, *, actor: User | None = None) -> User:
        user = await self.find(email_or_id, actor=actor)
        await self.users.reset_age(user.id, actor_id=actor.id if actor else None)
        return await self.find(user.id)

    async def delete(
        self, email_or_id: str, *, actor: User | None = None, mode: DeleteMode | None = None
    ) -> dict[str, int]:
        """Delete an account and everything it owns, or anonymise it (per `[privacy] delete_mode`)."""
        user = await self.find(email_or_id, actor=actor)
        return await self.delete_account(user, actor=actor, mode=mode)

    async def delete_account(
        self, user: User, *, actor: User | None = None, mode: DeleteMode | None = None
    ) -> dict[str, int]:
        await self._keep_an_admin(user)
        return await self.users.delete(user.id, mode or self.privacy.delete_mode, actor_id=actor.id if actor else None)
