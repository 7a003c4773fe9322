"""Send plain-text mail through the SMTP server in `[email]`; smtplib runs in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from bostonia.config import EmailConfig
from bostonia.errors import Unavailable

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    @property
    def configured(self) -> bool:
        return self.config.configured

    def _password(self) -> str | None:
        if not self.config.password_env:
            return None
        password = os.environ.get(self.config.password_env)
        if password is None:
            raise Unavailable(f"[email] password_env names {self.config.password_env}, which is not set")
        return password

    def _send_sync(self, message: EmailMessage) -> None:
        config = self.config
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds) as smtp:
            if config.starttls:
                smtp.starttls()
            password = self._password()
            if config.username and password is not None:
                smtp.login(config.username, password)
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        if not self.configured:
            raise Unavailable("email is not configured on this server")
        message = EmailMessage()
        message["From"] = self.config.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="bostonia.local")
        message.set_content(body)
        try:
            await asyncio.to_thread(self._send_sync, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"could not send email: {exc}") from None
