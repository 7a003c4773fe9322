"""The auth API: accounts, token pairs with rotating refresh tokens, logout, age verification and
password recovery."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from bostonia.auth.deps import Auth, Passkeys, Recovery
from bostonia.auth.passkeys import RelyingParty
from bostonia.auth.schemas import (
    ForgotPasswordRequest,
    LoginRequest,
    LogoutRequest,
    Notice,
    Passkey,
    PasskeyList,
    PasskeyLogin,
    PasskeyOptions,
    PasskeyRegistration,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    TokenPair,
)
from bostonia.config import Settings
from bostonia.http.auth import SESSION_COOKIE, bearer_token, client_ip, public_base_url
from bostonia.http.bodies import optional_body
from bostonia.http.deps import Config, CurrentUser
from bostonia.users.deps import Users
from bostonia.users.schemas import AgeVerification, PasswordChange, Profile


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", status_code=201)
    async def register(self, data: JSONBody[RegisterRequest], auth: Auth) -> TokenPair:
        """Create an account. The first account on a server becomes its admin."""
        user = await auth.register(data.email, data.password, data.display_name)
        return await auth.issue_tokens(user)

    @post("/login", status_code=200)
    async def login(self, data: JSONBody[LoginRequest], auth: Auth, request: Request[Any, Any, Any]) -> TokenPair:
        """Sign in with email and password. Unknown email and wrong password get the same 401; repeated
        failures get 429 with Retry-After."""
        user = await auth.login(data.email, data.password, ip=client_ip(request))
        return await auth.issue_tokens(user)

    @post("/refresh", status_code=200)
    async def refresh(self, data: JSONBody[RefreshRequest], auth: Auth) -> TokenPair:
        """A new token pair for a refresh token, which is spent. Presenting a spent refresh token again
        revokes every token of that sign-in (401)."""
        return await auth.refresh(data.refresh_token)

    @post("/logout", status_code=204)
    async def logout(self, auth: Auth, request: Request[Any, Any, Any]) -> Response[None]:
        """End a sign-in: the refresh token's (body `{"refresh_token": ...}`, optional), the Bearer
        access token's, and the browser session's. Always 204."""
        data: LogoutRequest = await optional_body(request, LogoutRequest)
        if data.refresh_token:
            await auth.revoke_refresh_token(data.refresh_token)
        if token := bearer_token(request):
            await auth.revoke_access_token(token)
        response: Response[None] = Response(None, status_code=204)
        if session := request.cookies.get(SESSION_COOKIE):
            await auth.end_browser_session(session)
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @post("/verify-age", status_code=200)
    async def verify_age(self, data: JSONBody[AgeVerification], user: CurrentUser, users: Users) -> Profile:
        """Record the date of birth (`YYYY-MM-DD`). Adults get `age_verified` and the content tier
        they ask for (`content_tier`, default "mature"); minors stay on "sfw"."""
        return await users.verify_age(user, data)

    @post("/forgot-password", status_code=202)
    async def forgot_password(
        self,
        data: JSONBody[ForgotPasswordRequest],
        recovery: Recovery,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Notice:
        """Mail a reset link if the address has an account (when `[email]` is configured). The answer is
        the same whether or not it does."""
        return Notice(message=recovery.request_reset(data.email, public_base_url(request, config.server.public_url)))

    @post("/reset-password", status_code=200)
    async def reset_password(self, data: JSONBody[ResetPasswordRequest], recovery: Recovery) -> Notice:
        """Choose a new password with a reset token. The token works once; every session is signed out."""
        await recovery.reset_password(data.token, data.password)
        return Notice(message="your password has been changed; sign in with the new one")


class PasswordController(Controller):
    """The signed-in user's password (under `/users/me`, where the account lives)."""

    path = "/api/v1/users/me"
    tags = ["users"]

    @post("/password", status_code=200)
    async def change_password(
        self, data: JSONBody[PasswordChange], user: CurrentUser, auth: Auth, request: Request[Any, Any, Any]
    ) -> Notice:
        """Change the password; every other session of the account is signed out, this one stays."""
        if token := bearer_token(request):
            keep = auth.session_of_access_token(token)
        else:
            keep = await auth.browser_session_family(request.cookies.get(SESSION_COOKIE, ""))
        await auth.change_password(user, data.current_password, data.new_password, keep_session=keep)
        return Notice(message="password changed; other sessions were signed out")


def relying_party(request: Request[Any, Any, Any], config: Settings) -> RelyingParty:
    return RelyingParty.from_url(public_base_url(request, config.server.public_url))


class PasskeyController(Controller):
    """Passkeys (WebAuthn): register them to the signed-in account, list and remove them, sign in with one."""

    path = "/api/v1/auth/passkeys"
    tags = ["auth"]

    @get("/")
    async def list_passkeys(self, user: CurrentUser, passkeys: Passkeys) -> PasskeyList:
        return PasskeyList(items=await passkeys.list(user))

    @post("/register/options", status_code=200)
    async def registration_options(
        self, user: CurrentUser, passkeys: Passkeys, config: Config, request: Request[Any, Any, Any]
    ) -> PasskeyOptions:
        """Options for `navigator.credentials.create` (a discoverable credential for this account)."""
        return await passkeys.registration_options(user, relying_party(request, config))

    @post("/register", status_code=201)
    async def register(
        self,
        data: JSONBody[PasskeyRegistration],
        user: CurrentUser,
        passkeys: Passkeys,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Passkey:
        """Store the credential the authenticator made for the ceremony's challenge."""
        return await passkeys.register(user, data.ceremony, data.credential, data.name, relying_party(request, config))

    @delete("/{passkey_id:str}", status_code=204)
    async def delete_passkey(self, passkey_id: FromPath[str], user: CurrentUser, passkeys: Passkeys) -> None:
        await passkeys.delete(user, passkey_id)

    @post("/login/options", status_code=200)
    async def login_options(
        self, passkeys: Passkeys, config: Config, request: Request[Any, Any, Any]
    ) -> PasskeyOptions:
        """Options for `navigator.credentials.get`: any passkey this site knows may answer."""
        return passkeys.authentication_options(relying_party(request, config))

    @post("/login", status_code=200)
    async def login(
        self,
        data: JSONBody[PasskeyLogin],
        passkeys: Passkeys,
        auth: Auth,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> TokenPair:
        """Sign in with a passkey: a token pair, like `/auth/login` (browsers use `POST /login/passkey`)."""
        user = await passkeys.authenticate(data.ceremony, data.credential, relying_party(request, config))
        return await auth.issue_tokens(user)
