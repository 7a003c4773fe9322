"""JWT access tokens and opaque session/refresh tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from bostonia.identity import User

ALGORITHM = "HS256"


def load_or_create_secret(path: Path) -> str:
    """The signing secret lives in the data dir, readable by the owner only; never in the repo."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Only this hash is stored, so a database leak does not leak live sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccessTokens:
    def __init__(self, secret: str, lifetime_seconds: int) -> None:
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    def issue(self, user: User, session_id: str) -> str:
        """A signed access token. `sid` names the sign-in (refresh-token family) it belongs to, so that
        revoking the sign-in (logout, password reset, refresh-token reuse) ends its access tokens too."""
        now = int(time.time())
        claims = {
            "sub": user.id,
            "sid": session_id,
            "email": user.email,
            "role": user.role,
            "tier": user.tier,
            "age_verified": user.age_verified,
            "content_tier": user.content_tier,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token; None for anything else."""
        try:
            return jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["sub", "sid", "exp"]})
        except jwt.PyJWTError:
            return None
