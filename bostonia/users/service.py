"""Accounts as their owners and admins see them: profile, preferences, age verification, and the
account records the CLI and the admin pages change (roles, tiers). Every admin action names its actor —
an admin account or the `Operator` running the CLI — and is refused to anyone else. (Disabling and
deleting an account reach into other capabilities: see `bostonia/accounts/`.)"""

from __future__ import annotations

import datetime

from bostonia.analytics.recorder import DiscardingSink, EventSink
from bostonia.config import AuthConfig
from bostonia.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bostonia.identity import ROLES, TIERS, Actor, User, require_admin
from bostonia.structs import changes_of
from bostonia.ui import i18n
from bostonia.users.schemas import (
    AgeVerification,
    Preferences,
    PreferencesUpdate,
    Profile,
    ProfileUpdate,
)
from bostonia.users.store import UserStore

OLDEST_AGE = 130


def age_on(date_of_birth: datetime.date, today: datetime.date) -> int:
    return today.year - date_of_birth.year - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))


class UserService:
    def __init__(
        self,
        users: UserStore,
        *,
        auth_config: AuthConfig | None = None,
        analytics: EventSink | None = None,
    ) -> None:
        self.users = users
        self.auth_config = auth_config or AuthConfig()
        self.analytics = analytics or DiscardingSink()

    async def active_account(self, user_id: str) -> User | None:
        """For the server's own work on a user's behalf: the account, if it may still sign in."""
        user = await self.users.get(user_id)
        return user if user is not None and user.is_active else None

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
        changes = changes_of(update)
        if "language" in changes:
            language = i18n.supported(changes["language"])
            if language is None:
                raise InvalidInput(
                    f"Bostonia is not translated into {changes['language']!r} yet; available:"
                    f" {', '.join(i18n.available_languages())}",
                    code="language_unavailable",
                    details={"field": "language"},
                )
            changes["language"] = language
        await self.users.update_preferences(user.id, changes)
        return await self.preferences(user)

    # -- administration --------------------------------------------------------------------------

    async def list(self, *, actor: Actor) -> list[User]:
        require_admin(actor)
        return await self.users.list()

    async def find(self, email_or_id: str, *, actor: Actor) -> User:
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

    async def show(self, email_or_id: str, *, actor: Actor) -> Profile:
        return await self.profile(await self.find(email_or_id, actor=actor))

    async def keep_an_admin(self, target: User) -> None:
        """Refuse what would leave the server without an active admin."""
        if target.is_admin and target.is_active and await self.users.count_active_admins() <= 1:
            raise Conflict("this is the last active admin; make another admin first", code="last_admin")

    async def set_role(self, email_or_id: str, role: str, *, actor: Actor) -> User:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", details={"field": "role"})
        user = await self.find(email_or_id, actor=actor)
        if role != "admin":
            await self.keep_an_admin(user)
        await self.users.set_role(user.id, role, actor_id=actor.id)
        return await self.find(user.id, actor=actor)

    async def set_tier(self, email_or_id: str, tier: str, *, actor: Actor) -> User:
        if tier not in TIERS:
            raise InvalidInput(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}", details={"field": "tier"})
        user = await self.find(email_or_id, actor=actor)
        await self.users.set_tier(user.id, tier, actor_id=actor.id)
        self.analytics.record("subscription_changed", user_id=user.id, tier=tier, status="active", provider="admin")
        return await self.find(user.id, actor=actor)

    async def reset_age(self, email_or_id: str, *, actor: Actor) -> User:
        user = await self.find(email_or_id, actor=actor)
        await self.users.reset_age(user.id, actor_id=actor.id)
        return await self.find(user.id, actor=actor)
