from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from bostonia.auth.schemas import LoginRequest, RegisterRequest, TokenPair
from bostonia.auth.service import AuthService
from bostonia.http.deps import Auth
from bostonia.users.schemas import User


async def token_pair(auth: AuthService, user: User) -> TokenPair:
    return TokenPair(
        access_token=auth.access_token(user),
        refresh_token=await auth.new_refresh_token(user),
        user=user,
        expires_in=auth.tokens.lifetime_seconds,
    )


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", status_code=201)
    async def register(self, data: JSONBody[RegisterRequest], auth: Auth) -> TokenPair:
        """Create an account. The first account on a server becomes its admin."""
        user = await auth.register(data.email, data.password, data.display_name)
        return await token_pair(auth, user)

    @post("/login", status_code=200)
    async def login(self, data: JSONBody[LoginRequest], auth: Auth) -> TokenPair:
        user = await auth.login(data.email, data.password)
        return await token_pair(auth, user)
