"""Sign in with OpenID Connect / OAuth 2 providers: the plugin's hooks.

Providers come from `[[plugins.oidc.providers]]` in `bostonia.toml` (the old core `[oidc]` table is still
read, with a deprecation warning, for one release); each gets a login button and two routes:
`/auth/oidc/<name>/login` (starts the flow) and `/auth/oidc/<name>/callback` (finishes it).
"""

from __future__ import annotations

from typing import Any

from bostonia.plugin_api import Settings, hookimpl, plugin_config
from bostonia_oidc.settings import OIDCSettings

__all__ = ["extra_routes", "login_providers", "plugin_settings"]
NAME = "oidc"


def oidc_settings(settings: Settings) -> OIDCSettings:
    return plugin_config(settings, NAME, OIDCSettings)


@hookimpl
def plugin_settings() -> dict[str, type]:
    return {NAME: OIDCSettings}


@hookimpl
def extra_routes(settings: Settings) -> list[Any] | None:
    config = oidc_settings(settings)
    if not config.providers:
        return None
    from bostonia_oidc.routes import oidc_router

    return [oidc_router(config)]


@hookimpl
def login_providers(settings: Settings) -> list[dict[str, str]] | None:
    return [
        {"label": f"Sign in with {provider.label or provider.name.title()}", "url": f"/auth/oidc/{provider.name}/login"}
        for provider in oidc_settings(settings).providers
    ]
