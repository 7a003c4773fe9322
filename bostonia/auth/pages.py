"""Sign-in pages: register, login, logout (the browser's session cookie)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from bostonia.auth.service import AuthService
from bostonia.config import Settings
from bostonia.errors import BostoniaError
from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.deps import Auth, Config, Viewer
from bostonia.ui.forms import Form
from bostonia.users.schemas import User


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next=` must not become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
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


class AccountPages(Controller):
    include_in_schema = False

    @get("/login")
    async def login_form(self, viewer: Viewer, next: FromQuery[str | None] = None) -> Response[Any]:
        if viewer:
            return Redirect(safe_next(next))
        return Template("login.html", context={"user": None, "next": safe_next(next), "error": None})

    @post("/login")
    async def login(self, data: Form, auth: Auth, config: Config, request: Request[Any, Any, Any]) -> Response[Any]:
        target = safe_next(data.get("next"))
        try:
            user = await auth.login(data.get("email", ""), data.get("password", ""))
        except BostoniaError as exc:
            return Template(
                "login.html",
                status_code=401,
                context={"user": None, "next": target, "error": exc.message, "email": data.get("email", "")},
            )
        return await self._signed_in(user, target, auth, config, request)

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
                status_code=422 if exc.code != "email_taken" else 409,
                context={"user": None, "error": exc.message, "form": form},
            )
        return await self._signed_in(user, "/", auth, config, request)

    async def _signed_in(
        self, user: User, target: str, auth: AuthService, settings: Settings, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        token = await auth.new_browser_session(
            user, user_agent=request.headers.get("user-agent"), ip=request.client.host if request.client else None
        )
        return Redirect(target, status_code=303, cookies=[session_cookie(token, settings)])

    @post("/logout")
    async def logout(self, auth: Auth, request: Request[Any, Any, Any]) -> Response[Any]:
        if token := request.cookies.get(SESSION_COOKIE):
            await auth.end_browser_session(token)
        response = Redirect("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
