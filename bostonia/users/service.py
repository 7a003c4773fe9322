"""User administration: what the CLI and (later) the admin pages do to accounts."""

from __future__ import annotations

from bostonia.errors import InvalidInput, NotFound
from bostonia.users.schemas import ROLES, User
from bostonia.users.store import UserStore


class UserService:
    def __init__(self, users: UserStore) -> None:
        self.users = users

    async def list(self) -> list[User]:
        return await self.users.list()

    async def find(self, email_or_id: str) -> User:
        """Look a user up by email (what admins type) or by id."""
        if "@" in email_or_id:
            found = await self.users.get_with_password(email_or_id)
            user = found[0] if found else None
        else:
            user = await self.users.get(email_or_id)
        if user is None:
            raise NotFound(f"no user {email_or_id!r}")
        return user

    async def set_role(self, email_or_id: str, role: str) -> User:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        user = await self.find(email_or_id)
        await self.users.set_role(user.id, role)
        return await self.find(user.id)
