"""Accounts: registration, password login, access tokens, browser sessions."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bostonia.auth.store import SessionStore
from bostonia.auth.tokens import AccessTokens, hash_token, new_opaque_token
from bostonia.config import AuthConfig
from bostonia.errors import Conflict, InvalidInput, NotAuthenticated
from bostonia.users.schemas import User
from bostonia.users.store import UserStore

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AuthService:
    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        tokens: AccessTokens,
        config: AuthConfig,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.tokens = tokens
        self.config = config
        self.hasher = hasher or PasswordHasher()
        # Verified against when the email is unknown, so both failures cost the same time.
        self._dummy_hash = self.hasher.hash("not a real password")

    # -- passwords -------------------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)  # ~50 ms of CPU: off the loop

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    def _check_password_rules(self, password: str) -> None:
        if len(password) < self.config.min_password_length:
            raise InvalidInput(
                f"password must be at least {self.config.min_password_length} characters",
                details={"field": "password"},
            )

    # -- accounts --------------------------------------------------------------------------------

    async def register(
        self, email: str, password: str, display_name: str | None = None, *, role: str | None = None
    ) -> User:
        email = email.strip()
        if not EMAIL_RE.match(email):
            raise InvalidInput("email is not a valid address", details={"field": "email"})
        self._check_password_rules(password)
        name = (display_name or email.split("@")[0]).strip()
        if not name:
            raise InvalidInput("display_name must not be blank", details={"field": "display_name"})
        if await self.users.email_exists(email):
            raise Conflict("an account with this email already exists", code="email_taken")
        password_hash = await self._hash(password)
        try:
            return await self.users.create(email=email, password_hash=password_hash, display_name=name, role=role)
        except Exception as exc:  # the unique index decides a race between two registrations
            if "UNIQUE constraint failed: users.email" in str(exc):
                raise Conflict("an account with this email already exists", code="email_taken") from None
            raise

    async def login(self, email: str, password: str) -> User:
        """The user for these credentials. Unknown email and wrong password fail alike."""
        found = await self.users.get_with_password(email.strip())
        password_hash = found[1] if found else None
        valid = await self._verify(password_hash or self._dummy_hash, password)
        if not found or not password_hash or not valid or not found[0].is_active:
            raise NotAuthenticated("invalid email or password", code="invalid_credentials")
        await self.users.record_login(found[0].id)
        return found[0]

    # -- tokens and sessions --------------------------------------------------------------------

    def access_token(self, user: User) -> str:
        return self.tokens.issue(user)

    async def new_refresh_token(self, user: User) -> str:
        token = new_opaque_token()
        await self.sessions.create(
            user_id=user.id,
            kind="refresh",
            token_hash=hash_token(token),
            lifetime=timedelta(days=self.config.refresh_token_days),
        )
        return token

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

    async def end_browser_session(self, token: str) -> None:
        await self.sessions.revoke(hash_token(token))

    async def user_for_access_token(self, token: str) -> User | None:
        claims = self.tokens.decode(token)
        if claims is None:
            return None
        return await self._active_user(str(claims["sub"]))

    async def user_for_session(self, token: str) -> User | None:
        user_id = await self.sessions.active_user_id("browser", hash_token(token))
        return await self._active_user(user_id) if user_id else None

    async def _active_user(self, user_id: str) -> User | None:
        # Looked up on every request so that a disabled or deleted account loses access at once.
        user = await self.users.get(user_id)
        return user if user and user.is_active else None
