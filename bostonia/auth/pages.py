"""Sign-in pages: register, login, logout (the browser's session cookie), forgotten passwords."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from bostonia.auth.deps import Auth, LoginOptions, Passkeys, Recovery
from bostonia.auth.passkeys import RelyingParty
from bostonia.auth.schemas import BrowserPasskeyLogin
from bostonia.auth.service import AuthService
from bostonia.config import Settings
from bostonia.errors import BostoniaError, RateLimited
from bostonia.http.auth import SESSION_COOKIE, client_ip, public_base_url
from bostonia.http.deps import Config, CurrentUser, Viewer
from bostonia.http.errors import status_for
from bostonia.identity import User
from bostonia.ui.forms import Form
from bostonia.users.deps import Users
from bostonia.users.pages import account_page


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next=` must not become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    if "\\" in target:  # browsers read "/\evil.example" as "//evil.example"
        return "/"
    return target


def session_cookie(token: str, settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=settings.auth.secure_cookies,
        max_age=settings.auth.session_days * 86400,
        path="/",
    )


async def signed_in_redirect(
    user: User, target: str, auth: AuthService, settings: Settings, request: Request[Any, Any, Any]
) -> Response[Any]:
    """Start a browser session for `user` and send the browser on to `target`."""
    token = await auth.new_browser_session(user, user_agent=request.headers.get("user-agent"), ip=client_ip(request))
    return Redirect(target, status_code=303, cookies=[session_cookie(token, settings)])


# Messages the login page shows for `?notice=<code>` (codes only: the page never echoes request text).
NOTICES = {
    "password_changed": "Your password was changed. Sign in with the new one.",
    "account_deleted": "Your account and everything in it were deleted.",
}


def error_headers(exc: BostoniaError) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None


class AccountPages(Controller):
    include_in_schema = False

    @get("/login")
    async def login_form(
        self,
        viewer: Viewer,
        login_options: LoginOptions,
        next: FromQuery[str | None] = None,
        notice: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if viewer:
            return Redirect(safe_next(next))
        context = {
            "user": None,
            "next": safe_next(next),
            "error": None,
            "notice": NOTICES.get(notice or ""),
            "login_options": login_options,
        }
        return Template("login.html", context=context)

    @post("/login")
    async def login(
        self,
        data: Form,
        auth: Auth,
        config: Config,
        login_options: LoginOptions,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        target = safe_next(data.get("next"))
        try:
            user = await auth.login(data.get("email", ""), data.get("password", ""), ip=client_ip(request))
        except BostoniaError as exc:
            return Template(
                "login.html",
                status_code=status_for(exc),
                headers=error_headers(exc),
                context={
                    "user": None,
                    "next": target,
                    "error": exc.message,
                    "email": data.get("email", ""),
                    "login_options": login_options,
                },
            )
        return await signed_in_redirect(user, target, auth, config, request)

    @get("/register")
    async def register_form(self, viewer: Viewer) -> Response[Any]:
        if viewer:
            return Redirect("/")
        return Template("register.html", context={"user": None, "error": None, "form": {}})

    @post("/register")
    async def register(self, data: Form, auth: Auth, config: Config, request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            user = await auth.register(data.get("email", ""), data.get("password", ""), data.get("display_name"))
        except BostoniaError as exc:
            form = {"email": data.get("email", ""), "display_name": data.get("display_name", "")}
            return Template(
                "register.html",
                status_code=status_for(exc),
                context={"user": None, "error": exc.message, "form": form},
            )
        return await signed_in_redirect(user, "/", auth, config, request)

    @post("/logout")
    async def logout(self, auth: Auth, request: Request[Any, Any, Any]) -> Response[Any]:
        if token := request.cookies.get(SESSION_COOKIE):
            await auth.end_browser_session(token)
        response = Redirect("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- forgotten passwords ------------------------------------------------------------------------

    @get("/forgot-password")
    async def forgot_password_form(self, viewer: Viewer) -> Template:
        return Template("forgot_password.html", context={"user": viewer, "notice": None})

    @post("/forgot-password")
    async def forgot_password(
        self, data: Form, viewer: Viewer, recovery: Recovery, config: Config, request: Request[Any, Any, Any]
    ) -> Template:
        notice = recovery.request_reset(data.get("email", ""), public_base_url(request, config.server.public_url))
        return Template("forgot_password.html", context={"user": viewer, "notice": notice})

    @get("/reset-password")
    async def reset_password_form(self, viewer: Viewer, token: FromQuery[str] = "") -> Template:
        return Template("reset_password.html", context={"user": viewer, "token": token, "error": None})

    @post("/reset-password")
    async def reset_password(self, data: Form, viewer: Viewer, recovery: Recovery) -> Response[Any]:
        token = data.get("token", "")
        try:
            await recovery.reset_password(token, data.get("password", ""))
        except BostoniaError as exc:
            return Template(
                "reset_password.html",
                status_code=status_for(exc),
                context={"user": viewer, "token": token, "error": exc.message},
            )
        response = Redirect("/login?notice=password_changed", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @post("/account/password")
    async def change_password(
        self, data: Form, user: CurrentUser, users: Users, auth: Auth, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        """The account page's password form; every other session of the account is signed out."""
        keep = await auth.browser_session_family(request.cookies.get(SESSION_COOKIE, ""))
        try:
            await auth.change_password(
                user, data.get("current_password", ""), data.get("new_password", ""), keep_session=keep
            )
        except BostoniaError as exc:
            return await account_page(user, users, error=exc.message, status=status_for(exc))
        return Redirect("/account?notice=password", status_code=303)

    # -- passkeys (the account page loads its section from here) ----------------------------------

    @get("/account/passkeys")
    async def passkeys_section(self, user: CurrentUser, passkeys: Passkeys) -> Template:
        return Template("_passkeys.html", context={"user": user, "passkeys": await passkeys.list(user)})

    @post("/account/passkeys/{passkey_id:str}/delete")
    async def delete_passkey(
        self, passkey_id: FromPath[str], user: CurrentUser, passkeys: Passkeys, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        await passkeys.delete(user, passkey_id)
        if request.headers.get("hx-request"):
            return Template("_passkeys.html", context={"user": user, "passkeys": await passkeys.list(user)})
        return Redirect("/account", status_code=303)

    @post("/login/passkey", status_code=200)
    async def passkey_login(
        self,
        data: JSONBody[BrowserPasskeyLogin],
        passkeys: Passkeys,
        auth: Auth,
        config: Config,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """The login page's passkey button: the answer to `POST /api/v1/auth/passkeys/login/options`
        signs the browser in (session cookie); the page then goes where `next` says."""
        rp = RelyingParty.from_url(public_base_url(request, config.server.public_url))
        user = await passkeys.authenticate(data.ceremony, data.credential, rp)
        token = await auth.new_browser_session(
            user, user_agent=request.headers.get("user-agent"), ip=client_ip(request)
        )
        return Response({"redirect": safe_next(data.next)}, cookies=[session_cookie(token, config)])
