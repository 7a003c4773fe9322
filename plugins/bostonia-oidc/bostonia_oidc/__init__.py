"""Sign in with OpenID Connect / OAuth 2 providers: the plugin's hooks.

Providers come from the core `[oidc] providers` setting; each gets a login button and two routes:
`/auth/oidc/<name>/login` (starts the flow) and `/auth/oidc/<name>/callback` (finishes it).
"""

from __future__ import annotations

from typing import Any

from bostonia import hookimpl
from bostonia.config import Settings

__all__ = ["extra_routes", "login_providers"]


@hookimpl
def extra_routes(settings: Settings) -> list[Any] | None:
    if not settings.oidc.providers:
        return None
    from bostonia_oidc.routes import oidc_router

    return [oidc_router(settings)]


@hookimpl
def login_providers(settings: Settings) -> list[dict[str, str]] | None:
    return [
        {"label": f"Sign in with {provider.label or provider.name.title()}", "url": f"/auth/oidc/{provider.name}/login"}
        for provider in settings.oidc.providers
    ]
