"""Per-user API keys: for programs (the OpenAI-compatible API, scripts) that cannot sign in with a password.

A key is `bst_` + 43 URL-safe characters, shown once when made; only its SHA-256 is stored, with its first
characters for telling keys apart. A key acts as its owner — same rate limit, same rights — until it is
revoked; a disabled account's keys stop working with it. Anywhere an access token is accepted
(`Authorization: Bearer ...`), a key is too.
"""

from __future__ import annotations

import secrets
import time

from bostonia.auth.schemas import ApiKey, NewApiKey
from bostonia.auth.store import ApiKeyStore
from bostonia.auth.tokens import hash_token
from bostonia.errors import InvalidInput, NotFound
from bostonia.identity import User

PREFIX = "bst_"
SHOWN_CHARS = 10  # of the key, kept in clear: "bst_AbCdEf"
MAX_KEYS = 50  # live keys per account
TOUCH_SECONDS = 60  # `last_used_at` is written at most this often per key


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


class ApiKeys:
    def __init__(self, store: ApiKeyStore) -> None:
        self.store = store
        self._touched: dict[str, float] = {}

    async def create(self, user: User, name: str) -> NewApiKey:
        name = name.strip()
        if not name or len(name) > 64:
            raise InvalidInput("a key needs a name of 1 to 64 characters", details={"field": "name"})
        live = [key for key in await self.store.list(user.id) if key.revoked_at is None]
        if len(live) >= MAX_KEYS:
            raise InvalidInput(f"an account has at most {MAX_KEYS} live API keys: revoke one first")
        secret = PREFIX + secrets.token_urlsafe(32)
        key = await self.store.create(user.id, name, hash_token(secret), secret[:SHOWN_CHARS])
        return NewApiKey(key=key, secret=secret)

    async def list(self, user: User) -> list[ApiKey]:
        return await self.store.list(user.id)

    async def revoke(self, user: User, key_id: str) -> None:
        """Revoke one of `user`'s keys (someone else's key is not found: 404)."""
        if not await self.store.revoke(user.id, key_id) and not await self.store.exists(user.id, key_id):
            raise NotFound("API key not found")

    async def user_id_for(self, secret: str) -> str | None:
        """The owner of a live key (the caller checks the account is active)."""
        found = await self.store.active(hash_token(secret))
        if found is None:
            return None
        key_id, user_id = found
        now = time.monotonic()
        if now - self._touched.get(key_id, 0.0) > TOUCH_SECONDS:
            self._touched[key_id] = now
            await self.store.touch(key_id)
        return user_id
