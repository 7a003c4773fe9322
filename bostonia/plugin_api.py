"""The public API for plugins: the one Bostonia module a plugin imports (a test checks the first-party ones).

    from bostonia.plugin_api import hookimpl, plugin_config, render_page, CurrentUser

It holds the hook marker, the types hooks pass and return, and the helpers a plugin's routes need (who is
asking, rendering a page in the app's layout, a safe `next` redirect, starting a browser session, CSRF,
the error shape). Everything else in `bostonia` may change without notice; this module changes carefully.
Every hook is documented in `docs/plugins.md`.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar, cast

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.utils.scope.state import ScopeState
from sqlite_utils import Migrations

from bostonia.auth.pages import safe_next, signed_in_redirect
from bostonia.billing.providers import CheckoutCustomer, CheckoutSession, PaymentEvent, PaymentProvider, PayoutOrder
from bostonia.chat.replies import PromptInjector
from bostonia.commands.common import run_with_services
from bostonia.config import Settings
from bostonia.db import Database, sqlite3
from bostonia.errors import (
    BostoniaError,
    ConfigError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from bostonia.hookspecs import PluginServices, hookimpl
from bostonia.http.auth import public_base_url as _public_base_url
from bostonia.http.auth import resolve_user
from bostonia.http.deps import Config, CurrentUser, Viewer
from bostonia.http.errors import status_for
from bostonia.http.security import CSRF_FIELD, CSRF_HEADER
from bostonia.identity import ContentTier, Role, Tier, User
from bostonia.llm.base import (
    ChatMessage,
    ChatModel,
    GenerationRequest,
    LoadableModel,
    PromptTooLong,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    SamplingParams,
    SessionModel,
    UsageReport,
)
from bostonia.moderation.moderator import Moderator
from bostonia.observability.logs import register_secret
from bostonia.prompt.builder import PromptInjection

T = TypeVar("T")
# The sign-in buttons (from `login_providers`) the login page shows: route parameter `login_options`.
LoginOptions = NamedDependency[list[dict[str, str]]]

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "BostoniaError",
    "ChatMessage",
    "ChatModel",
    "CheckoutCustomer",
    "CheckoutSession",
    "Config",
    "ConfigError",
    "Conflict",
    "ContentTier",
    "CurrentUser",
    "Database",
    "GenerationRequest",
    "InvalidInput",
    "LoadableModel",
    "LoginOptions",
    "Migrations",
    "Moderator",
    "NotAuthenticated",
    "NotFound",
    "PaymentEvent",
    "PaymentProvider",
    "PayoutOrder",
    "PermissionDenied",
    "PluginServices",
    "PromptInjection",
    "PromptInjector",
    "PromptTooLong",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "Role",
    "SamplingParams",
    "SessionModel",
    "Settings",
    "Tier",
    "Unavailable",
    "UsageReport",
    "User",
    "Viewer",
    "csrf_token",
    "current_user",
    "error_status",
    "external_sign_in",
    "hookimpl",
    "plugin_config",
    "plugin_services",
    "public_base_url",
    "render_page",
    "run_with_services",
    "safe_next",
    "secret_from_env",
    "sign_in",
    "sqlite3",
]


def plugin_config(settings: Settings, name: str, schema: type[T] | None = None) -> T:
    """The validated `[plugins.<name>]` table of a plugin that declared it with `plugin_settings`."""
    try:
        value = settings.plugins.config[name]
    except KeyError:
        raise ConfigError(f"no settings for plugin {name!r}: is it enabled, and does it declare them?") from None
    if schema is not None and not isinstance(value, schema):
        raise ConfigError(f"settings of plugin {name!r} are a {type(value).__name__}, not {schema.__name__}")
    return cast(T, value)


def secret_from_env(variable: str, *, setting: str, required: bool = True) -> str | None:
    """The secret in environment variable `variable`, named by the config key `setting` (e.g.
    "[plugins.openai] providers[0].api_key_env"). Missing (and `required`): a ConfigError that names both,
    so a misconfigured provider stops the start-up with a message that says what to set. The value is
    registered for redaction: it is cut out of every log line."""
    if not variable:
        if required:
            raise ConfigError(f"{setting} is empty: name the environment variable that holds the key")
        return None
    value = os.environ.get(variable, "")
    if not value:
        if required:
            raise ConfigError(f"{setting}: the environment variable {variable} is not set (it should hold the key)")
        return None
    register_secret(value)
    return value


def _services(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    return connection.app.state.services


def plugin_services(connection: ASGIConnection[Any, Any, Any, Any]) -> PluginServices:
    """The running instance (settings, database) from inside a plugin's route handler."""
    return cast(PluginServices, _services(connection))


async def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    """Who sent this request or socket (Bearer token, `?token=` or the browser session), or None."""
    return await resolve_user(connection, _services(connection).auth)


def render_page(template: str, *, user: User | None, status_code: int = 200, **context: Any) -> Template:
    """A page in the app's layout: `template` (the plugin's, from its `template_dirs`, usually
    `{% extends "base.html" %}` with a `{% block content %}`) with the signed-in `user` for the header."""
    return Template(template, status_code=status_code, context={"user": user, **context})


def public_base_url(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Where users reach this server: `[server] public_url`, else the address this request came to."""
    return _public_base_url(connection, _services(connection).settings.server.public_url)


def csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """This request's CSRF token, for a form field named `CSRF_FIELD` or an `X-CSRFToken` header (templates
    have it as `{{ csrf_input }}`)."""
    return str(ScopeState.from_scope(connection.scope).csrf_token or "")


def error_status(exc: BostoniaError) -> int:
    """The HTTP status Bostonia answers a domain error with (NotFound 404, PermissionDenied 403, ...)."""
    return status_for(exc)


async def sign_in(user: User, next_path: str | None, request: Request[Any, Any, Any]) -> Response[Any]:
    """Start a browser session for `user` and redirect to `next_path` (only a same-site path; else `/`)."""
    services = _services(request)
    return await signed_in_redirect(user, safe_next(next_path), services.auth, services.settings, request)


async def external_sign_in(
    request: Request[Any, Any, Any],
    *,
    provider: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    display_name: str | None,
) -> User:
    """The local account of someone an external identity provider vouches for: linked to the signed-in
    user, to an existing account with the same *verified* email, or created."""
    return cast(
        User,
        await _services(request).auth.sign_in_external(
            provider=provider,
            subject=subject,
            email=email,
            email_verified=email_verified,
            display_name=display_name,
            current_user=await current_user(request),
        ),
    )
