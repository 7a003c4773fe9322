"""Forgotten passwords: single-use, expiring reset links, mailed over SMTP or handed out by an admin.

`request_reset` answers the same way, in the same time, whether or not the email has an account: the
lookup and the mail happen in a background task after the response is decided.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from urllib.parse import quote

from bostonia.audit.store import AuditLog
from bostonia.auth.schemas import ResetLink
from bostonia.auth.service import AuthService
from bostonia.auth.store import PasswordResetStore
from bostonia.auth.tokens import hash_token, new_opaque_token
from bostonia.errors import BostoniaError, InvalidInput
from bostonia.identity import Actor, User, require_admin
from bostonia.mail.sender import Mailer

log = logging.getLogger(__name__)
# One reset mail per address per this many seconds, so the form cannot be used to flood an inbox.
MAIL_INTERVAL_SECONDS = 120
RESET_PATH = "/reset-password"
FORGOT_NOTICE = (
    "If an account exists for that address, a reset link is on its way. "
    "No email? The server's admin can create a link for you."
)


class PasswordRecovery:
    def __init__(
        self,
        auth: AuthService,
        resets: PasswordResetStore,
        mailer: Mailer,
        audit: AuditLog,
        *,
        lifetime_minutes: int,
    ) -> None:
        self.auth = auth
        self.audit = audit
        self.resets = resets
        self.mailer = mailer
        self.lifetime = timedelta(minutes=lifetime_minutes)
        self._last_mail: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def create_link(self, user: User, base_url: str) -> ResetLink:
        """A fresh reset link for this user (what `bostonia user reset-link` prints)."""
        token = new_opaque_token()
        expires_at = await self.resets.create(user.id, hash_token(token), self.lifetime)
        return ResetLink(url=f"{base_url.rstrip('/')}{RESET_PATH}?token={quote(token)}", expires_at=expires_at)

    async def admin_link(self, user: User, base_url: str, *, actor: Actor) -> ResetLink:
        """A reset link an admin hands over (web page, API, or the operator at the CLI); audit-logged."""
        require_admin(actor)
        link = await self.create_link(user, base_url)
        await self.audit.record(actor_id=actor.id, action="user.reset_link", target_type="user", target_id=user.id)
        return link

    def request_reset(self, email: str, base_url: str) -> str:
        """Start mailing a reset link if the address has an account; returns the notice to show."""
        task = asyncio.create_task(self._mail_link(email.strip(), base_url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return FORGOT_NOTICE

    async def _mail_link(self, email: str, base_url: str) -> None:
        try:
            if not self.mailer.configured:
                log.info("password reset requested but [email] is not configured")
                return
            user = await self.auth.users.get_by_email(email)
            if user is None or not user.is_active:
                return
            now = time.monotonic()
            key = user.email.lower()
            if now - self._last_mail.get(key, -MAIL_INTERVAL_SECONDS) < MAIL_INTERVAL_SECONDS:
                log.info("password reset mail suppressed: one was sent recently")
                return
            self._last_mail[key] = now
            link = await self.create_link(user, base_url)
            minutes = int(self.lifetime.total_seconds() // 60)
            await self.mailer.send(
                user.email,
                "Reset your Bostonia password",
                f"Hello {user.display_name},\n\n"
                f"Someone (hopefully you) asked to reset the password of your Bostonia account.\n"
                f"Open this link within {minutes} minutes to choose a new one:\n\n{link.url}\n\n"
                "The link works once. If you did not ask for it, ignore this email: your password stays as it is.\n",
            )
        except BostoniaError as exc:
            log.error("password reset mail failed: %s", exc.message)
        except Exception:
            log.exception("password reset mail failed")

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password with a reset token; the token and all of the user's sessions are spent."""
        password_hash = await self.auth.hash_password(new_password)  # validates before spending the token
        if await self.resets.consume(hash_token(token), password_hash) is None:
            raise InvalidInput(
                "this reset link is invalid, expired or already used",
                code="invalid_reset_token",
                details={"field": "token"},
            )

    async def drain(self) -> None:
        """Wait for mails still being sent (at shutdown, and in tests)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
