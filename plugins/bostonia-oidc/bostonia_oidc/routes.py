"""The browser side of the flow: `/auth/oidc/<name>/login` redirects to the provider; the provider sends
the browser back to `/auth/oidc/<name>/callback`, which signs the user in with a session cookie.

Each login has a server-side record keyed by its `state` (PKCE verifier, nonce, where to go next), bound
to the browser that started it by a cookie: a callback from another browser, a replayed callback, or a
forged `state` is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from bostonia.plugin_api import (
    BostoniaError,
    Config,
    LoginOptions,
    NotAuthenticated,
    NotFound,
    error_status,
    external_sign_in,
    public_base_url,
    render_page,
    safe_next,
    sign_in,
)
from bostonia_oidc.client import ProviderClient, pkce_pair
from bostonia_oidc.settings import OIDCSettings

BINDING_COOKIE = "bostonia_oidc"
PENDING_SECONDS = 600
MAX_PENDING = 10_000  # oldest abandoned logins are dropped beyond this


@dataclass(frozen=True)
class PendingLogin:
    provider: str
    verifier: str
    nonce: str
    next: str
    redirect_uri: str
    binding_hash: str
    expires: float


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OIDCLogins:
    """The configured providers and the logins in flight."""

    def __init__(self, settings: OIDCSettings) -> None:
        self.providers = {p.name: ProviderClient(p) for p in settings.providers}
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()

    def provider(self, name: str) -> ProviderClient:
        if name not in self.providers:
            raise NotFound(f"no sign-in provider {name!r}")
        return self.providers[name]

    def redirect_uri(self, request: Request[Any, Any, Any], name: str) -> str:
        return f"{public_base_url(request)}/auth/oidc/{name}/callback"

    async def start(self, name: str, *, next: str, redirect_uri: str, binding: str) -> str:
        provider = self.provider(name)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        url = await provider.authorization_url(state=state, nonce=nonce, challenge=challenge, redirect_uri=redirect_uri)
        now = time.monotonic()
        while self._pending and (len(self._pending) >= MAX_PENDING or next_expired(self._pending, now)):
            self._pending.popitem(last=False)
        self._pending[state] = PendingLogin(
            provider=name,
            verifier=verifier,
            nonce=nonce,
            next=next,
            redirect_uri=redirect_uri,
            binding_hash=_digest(binding),
            expires=now + PENDING_SECONDS,
        )
        return url

    def take(self, name: str, state: str, binding: str | None) -> PendingLogin:
        """The login this callback finishes; it can be finished once, by the browser that started it.
        (A callback from another browser does not spend it: that would let anyone cancel a login.)"""
        pending = self._pending.get(state) if state else None
        if pending is not None and pending.expires < time.monotonic():
            del self._pending[state]
            pending = None
        if (
            pending is None
            or pending.provider != name
            or not binding
            or not secrets.compare_digest(pending.binding_hash, _digest(binding))
        ):
            raise NotAuthenticated(
                "this sign-in link is invalid or expired; start again from the login page", code="oidc_state"
            )
        del self._pending[state]
        return pending


def next_expired(pending: OrderedDict[str, PendingLogin], now: float) -> bool:
    first = next(iter(pending.values()))
    return first.expires < now


def binding_cookie(value: str, *, cross_site: bool, secure: bool, max_age: int = PENDING_SECONDS) -> Cookie:
    # A provider that POSTs the result back (form_post) is a cross-site POST: only a SameSite=None
    # (hence Secure) cookie comes along.
    return Cookie(
        key=BINDING_COOKIE,
        value=value,
        path="/auth/oidc",
        httponly=True,
        secure=secure or cross_site,
        samesite="none" if cross_site else "lax",
        max_age=max_age,
    )


def failure_page(exc: BostoniaError, login_options: list[dict[str, str]]) -> Template:
    return render_page(
        "login.html",
        user=None,
        status_code=error_status(exc),
        next="/",
        error=exc.message,
        login_options=login_options,
        notice=None,
    )


@get("/{provider:str}/login")
async def start_login(
    provider: FromPath[str],
    oidc: NamedDependency[OIDCLogins],
    config: Config,
    request: Request[Any, Any, Any],
    next: FromQuery[str | None] = None,
) -> Response[Any]:
    """Send the browser to the provider to sign in."""
    client = oidc.provider(provider)
    binding = request.cookies.get(BINDING_COOKIE) or secrets.token_urlsafe(32)
    url = await oidc.start(
        provider, next=safe_next(next), redirect_uri=oidc.redirect_uri(request, provider), binding=binding
    )
    cookie = binding_cookie(
        binding, cross_site=client.config.response_mode == "form_post", secure=config.auth.secure_cookies
    )
    return Redirect(url, status_code=302, cookies=[cookie])


async def finish_login(
    provider: str,
    params: dict[str, str],
    oidc: OIDCLogins,
    login_options: list[dict[str, str]],
    request: Request[Any, Any, Any],
) -> Response[Any]:
    try:
        client = oidc.provider(provider)
        if error := params.get("error"):
            oidc.take(provider, params.get("state", ""), request.cookies.get(BINDING_COOKIE))
            raise NotAuthenticated(f"{client.config.label or provider} did not sign you in ({error[:60]})")
        pending = oidc.take(provider, params.get("state", ""), request.cookies.get(BINDING_COOKIE))
        tokens = await client.exchange(
            code=params.get("code", ""), verifier=pending.verifier, redirect_uri=pending.redirect_uri
        )
        identity = await client.identity(tokens, nonce=pending.nonce)
        user = await external_sign_in(
            request,
            provider=provider,
            subject=identity.subject,
            email=identity.email,
            email_verified=identity.email_verified,
            display_name=identity.name,
        )
    except BostoniaError as exc:
        return failure_page(exc, login_options)
    response = await sign_in(user, pending.next, request)
    response.delete_cookie(BINDING_COOKIE, path="/auth/oidc")
    return response


@get("/{provider:str}/callback")
async def callback(
    provider: FromPath[str],
    oidc: NamedDependency[OIDCLogins],
    login_options: LoginOptions,
    request: Request[Any, Any, Any],
) -> Response[Any]:
    """The provider sends the browser back here with `code` and `state` (or `error`)."""
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    return await finish_login(provider, params, oidc, login_options, request)


@post("/{provider:str}/callback", opt={"exclude_from_csrf": True}, status_code=200)
async def form_post_callback(
    provider: FromPath[str],
    oidc: NamedDependency[OIDCLogins],
    login_options: LoginOptions,
    request: Request[Any, Any, Any],
) -> Response[Any]:
    """`response_mode=form_post` providers (Apple) POST the result here. Not CSRF-checked: the
    single-use `state`, bound to this browser by its cookie, is what proves the request is ours."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    return await finish_login(provider, params, oidc, login_options, request)


def oidc_router(settings: OIDCSettings) -> Router:
    logins = OIDCLogins(settings)
    return Router(
        path="/auth/oidc",
        route_handlers=[start_login, callback, form_post_callback],
        dependencies={"oidc": Provide(lambda: logins, use_cache=True, sync_to_thread=False)},
        include_in_schema=False,
    )
