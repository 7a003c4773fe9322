"""Who is asking: a Bearer access token (API), `?token=` (WebSocket), or the browser session cookie."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from bostonia.errors import NotAuthenticated
from bostonia.identity import User

SESSION_COOKIE = "bostonia_session"
_RESOLVED = "bostonia_user"


@runtime_checkable
class Credentials(Protocol):
    """Turns what a request carries into an account (the auth capability's `AuthService` does this; the
    HTTP glue only knows its shape, so it sits below every capability)."""

    async def user_for_access_token(self, token: str) -> User | None: ...

    async def user_for_session(self, token: str) -> User | None: ...


async def resolve_user(connection: ASGIConnection[Any, Any, Any, Any], auth: Credentials) -> User | None:
    if _RESOLVED in connection.scope.get("state", {}):
        return connection.scope["state"][_RESOLVED]
    user: User | None = None
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        user = await auth.user_for_access_token(credentials.strip())
    elif connection.scope["type"] == "websocket" and (token := connection.query_params.get("token")):
        user = await auth.user_for_access_token(token)
    elif session := connection.cookies.get(SESSION_COOKIE):
        user = await auth.user_for_session(session)
    connection.scope.setdefault("state", {})[_RESOLVED] = user
    return user


async def provide_optional_user(
    request: ASGIConnection[Any, Any, Any, Any], auth: NamedDependency[Credentials]
) -> User | None:
    return await resolve_user(request, auth)


async def provide_user(request: ASGIConnection[Any, Any, Any, Any], auth: NamedDependency[Credentials]) -> User:
    user = await resolve_user(request, auth)
    if user is None:
        raise NotAuthenticated("authentication required: send a Bearer token or sign in")
    return user


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return connection.client.host if connection.client else None


def public_base_url(connection: ASGIConnection[Any, Any, Any, Any], public_url: str) -> str:
    """Where users reach this server: `[server] public_url`, else what this request was sent to."""
    return (public_url or str(connection.base_url)).rstrip("/")
