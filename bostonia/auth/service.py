"""Accounts: registration, password login (throttled), access and refresh tokens, browser sessions,
password changes and sign-in through external (OAuth/OIDC) identities."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bostonia.auth.api_keys import ApiKeys, is_api_key
from bostonia.auth.schemas import TokenPair
from bostonia.auth.store import ApiKeyStore, IdentityStore, SessionStore
from bostonia.auth.throttle import LoginThrottle
from bostonia.auth.tokens import AccessTokens, hash_token, new_opaque_token
from bostonia.config import AuthConfig
from bostonia.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied
from bostonia.identity import User
from bostonia.users.store import UserStore

log = logging.getLogger(__name__)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INVALID_CREDENTIALS = "invalid email or password"


class AuthService:
    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        tokens: AccessTokens,
        config: AuthConfig,
        hasher: PasswordHasher | None = None,
        *,
        identities: IdentityStore | None = None,
        throttle: LoginThrottle | None = None,
        api_keys: ApiKeys | None = None,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.tokens = tokens
        self.config = config
        self.hasher = hasher or PasswordHasher()
        self.identities = identities or IdentityStore(users.db)
        self.api_keys = api_keys or ApiKeys(ApiKeyStore(users.db))
        self.throttle = throttle or LoginThrottle(
            free_attempts=config.login_free_attempts,
            free_attempts_per_ip=config.login_free_attempts_per_ip,
            max_block_seconds=config.login_max_block_seconds,
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self._dummy_hash = self.hasher.hash("not a real password")

    # -- passwords -------------------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        self.check_password_rules(password)
        return await asyncio.to_thread(self.hasher.hash, password)  # ~50 ms of CPU: off the loop

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    def check_password_rules(self, password: str) -> None:
        if len(password) < self.config.min_password_length:
            raise InvalidInput(
                f"password must be at least {self.config.min_password_length} characters",
                details={"field": "password"},
            )

    async def password_matches(self, user: User, password: str) -> bool:
        """Whether `password` is the user's (False for accounts without a password)."""
        password_hash = await self.users.password_hash(user.id)
        valid = await self._verify(password_hash or self._dummy_hash, password)
        return bool(password_hash) and valid

    async def password_matches_if_set(self, user: User, password: str) -> bool:
        """For confirming a grave action: the password, when the account has one (one made through a
        sign-in provider may not)."""
        return not await self.users.password_hash(user.id) or await self.password_matches(user, password)

    async def change_password(
        self, user: User, current_password: str, new_password: str, *, keep_session: str | None = None
    ) -> None:
        """Set a new password (the current one is required if there is one) and sign out every other
        session; `keep_session` names the sign-in (session family) to keep."""
        if await self.users.password_hash(user.id) and not await self.password_matches(user, current_password):
            raise InvalidInput(
                "the current password is not correct", code="wrong_password", details={"field": "current_password"}
            )
        await self.sessions.set_password(user.id, await self.hash_password(new_password), keep_family=keep_session)

    # -- accounts --------------------------------------------------------------------------------

    async def register(
        self, email: str, password: str, display_name: str | None = None, *, role: str | None = None
    ) -> User:
        email = email.strip()
        if not EMAIL_RE.match(email):
            raise InvalidInput("email is not a valid address", details={"field": "email"})
        self.check_password_rules(password)
        name = (display_name or email.split("@")[0]).strip()
        if not name:
            raise InvalidInput("display_name must not be blank", details={"field": "display_name"})
        if await self.users.email_exists(email):
            raise Conflict("an account with this email already exists", code="email_taken")
        password_hash = await self.hash_password(password)
        try:
            return await self.users.create(email=email, password_hash=password_hash, display_name=name, role=role)
        except Exception as exc:  # the unique index decides a race between two registrations
            if "UNIQUE constraint failed: users.email" in str(exc):
                raise Conflict("an account with this email already exists", code="email_taken") from None
            raise

    async def login(self, email: str, password: str, *, ip: str | None = None) -> User:
        """The user for these credentials. Unknown email and wrong password fail alike, and repeated
        failures for one email or from one IP are throttled (429 with Retry-After)."""
        self.throttle.check(email, ip)
        found = await self.users.get_with_password(email.strip())
        password_hash = found[1] if found else None
        valid = await self._verify(password_hash or self._dummy_hash, password)
        if not found or not password_hash or not valid or not found[0].is_active:
            self.throttle.failed(email, ip)
            raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
        self.throttle.succeeded(email)
        await self.users.record_login(found[0].id)
        return found[0]

    async def sign_in_external(
        self,
        *,
        provider: str,
        subject: str,
        email: str | None,
        email_verified: bool,
        display_name: str | None,
        current_user: User | None = None,
    ) -> User:
        """The local account for an identity at an external provider, linking or creating it.

        An existing account with the same email is linked, and a new account created, only when the
        provider vouches for the email (email_verified); otherwise anyone could create a provider account
        with someone else's address and take over, or squat, theirs.
        A signed-in user who completes a provider login links that identity to their own account.
        """
        linked_id = await self.identities.user_id_for(provider, subject)
        if linked_id is not None:
            if current_user is not None and current_user.id != linked_id:
                raise Conflict("this sign-in is already linked to another account", code="identity_taken")
            user = await self.users.get(linked_id)
            if user is None or not user.is_active:
                raise NotAuthenticated("this account is disabled", code="account_disabled")
        elif current_user is not None:
            user = current_user
            await self.identities.link(user.id, provider, subject, email)
        else:
            if not email or not EMAIL_RE.match(email):
                raise InvalidInput("the provider did not share an email address", code="email_required")
            existing = await self.users.get_by_email(email)
            if existing is not None:
                if not email_verified:
                    raise Conflict(
                        "an account with this email exists; sign in with your password first to link it",
                        code="email_unverified",
                    )
                if not existing.is_active:
                    raise NotAuthenticated("this account is disabled", code="account_disabled")
                user = existing
            else:
                if not email_verified:  # an unverified address would let anyone squat someone else's email
                    raise PermissionDenied(
                        "the provider has not verified your email address; verify it there first",
                        code="email_unverified",
                    )
                name = (display_name or email.split("@")[0]).strip()[:64] or "user"
                user = await self.users.create(
                    email=email, password_hash=None, display_name=name, email_verified=email_verified
                )
            await self.identities.link(user.id, provider, subject, email)
        await self.users.record_login(user.id)
        return user

    # -- tokens and sessions --------------------------------------------------------------------

    async def issue_tokens(self, user: User) -> TokenPair:
        """A new sign-in for API clients: a refresh token (starting a family) and an access token."""
        refresh_token = new_opaque_token()
        family = await self.sessions.create(
            user_id=user.id,
            kind="refresh",
            token_hash=hash_token(refresh_token),
            lifetime=timedelta(days=self.config.refresh_token_days),
        )
        return self._pair(user, family, refresh_token)

    def _pair(self, user: User, family: str, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.issue(user, family),
            refresh_token=refresh_token,
            user=user,
            expires_in=self.tokens.lifetime_seconds,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair (rotation). Presenting a token a second time revokes
        its whole family: the legitimate holder and the thief are both signed out."""
        new_token = new_opaque_token()
        rotation = await self.sessions.rotate(
            hash_token(refresh_token), hash_token(new_token), timedelta(days=self.config.refresh_token_days)
        )
        if rotation.status == "reused":
            log.warning("refresh token reused; revoked its family", extra={"user_id": rotation.user_id})
            raise NotAuthenticated(
                "this refresh token was already used; every session of that sign-in has been revoked",
                code="refresh_token_reused",
            )
        user = await self._active_user(rotation.user_id) if rotation.user_id else None
        if rotation.status != "rotated" or user is None or rotation.family_id is None:
            raise NotAuthenticated("invalid or expired refresh token", code="invalid_refresh_token")
        return self._pair(user, rotation.family_id, new_token)

    async def revoke_refresh_token(self, refresh_token: str) -> bool:
        """Log out the sign-in this refresh token belongs to (its whole family)."""
        family = await self.sessions.family_of("refresh", hash_token(refresh_token))
        return bool(family and await self.sessions.revoke_family(family))

    async def revoke_access_token(self, access_token: str) -> bool:
        """Log out the sign-in an access token belongs to."""
        claims = self.tokens.decode(access_token)
        return bool(claims and await self.sessions.revoke_family(str(claims["sid"])))

    async def purge_expired(self) -> dict[str, int]:
        """Housekeeping: drop expired sessions and reset tokens (run periodically by the server)."""
        purged = await self.sessions.purge_expired()
        if any(purged.values()):
            log.info("purged expired credentials", extra=purged)
        return purged

    def session_of_access_token(self, access_token: str) -> str | None:
        claims = self.tokens.decode(access_token)
        return str(claims["sid"]) if claims else None

    async def new_browser_session(self, user: User, *, user_agent: str | None = None, ip: str | None = None) -> str:
        token = new_opaque_token()
        await self.sessions.create(
            user_id=user.id,
            kind="browser",
            token_hash=hash_token(token),
            lifetime=timedelta(days=self.config.session_days),
            user_agent=user_agent,
            ip=ip,
        )
        return token

    async def browser_session_family(self, token: str) -> str | None:
        return await self.sessions.family_of("browser", hash_token(token))

    async def end_browser_session(self, token: str) -> None:
        await self.sessions.revoke(hash_token(token))

    async def user_for_access_token(self, token: str) -> User | None:
        """The account behind a Bearer credential: an access token (JWT) or an API key."""
        if is_api_key(token):
            user_id = await self.api_keys.user_id_for(token)
            return await self._active_user(user_id) if user_id else None
        claims = self.tokens.decode(token)
        if claims is None:
            return None
        user_id = str(claims["sub"])
        if not await self.sessions.family_active(str(claims["sid"]), user_id):
            return None  # signed out, revoked by a password reset, or a reused refresh token
        return await self._active_user(user_id)

    async def user_for_session(self, token: str) -> User | None:
        user_id = await self.sessions.active_user_id("browser", hash_token(token))
        return await self._active_user(user_id) if user_id else None

    async def _active_user(self, user_id: str) -> User | None:
        # Looked up on every request so that a disabled or deleted account loses access at once.
        user = await self.users.get(user_id)
        return user if user and user.is_active else None
