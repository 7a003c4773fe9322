"""Stripe payments for Bostonia: the plugin's hooks.

Enable with `[plugins] enabled = ["stripe"]` (or `BOSTONIA_PLUGINS=stripe`); configure `[plugins.stripe]`
(see `settings.py`); put the keys in `STRIPE_API_KEY` and `STRIPE_WEBHOOK_SECRET`, and point a Stripe
webhook endpoint at `https://<your server>/api/v1/payments/webhook`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bostonia.plugin_api import Migrations, PluginServices, Settings, hookimpl, plugin_config
from bostonia_stripe.provider import NAME, StripeProvider
from bostonia_stripe.settings import StripeSettings

__all__ = ["plugin_settings", "register_migrations", "register_payment_providers", "startup"]
migrations = Migrations(NAME)
_providers: list[StripeProvider] = []  # the provider of each instance built in this process


@migrations()
def m001_connect_accounts(db: Any) -> None:
    db.execute(
        "create table stripe_connect_accounts (user_id text primary key references users(id) on delete cascade,"
        " stripe_connect_id text not null unique, created_at text not null default"
        " (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )


def stripe_settings(settings: Settings) -> StripeSettings:
    return plugin_config(settings, NAME, StripeSettings)


@hookimpl
def plugin_settings() -> dict[str, type]:
    return {NAME: StripeSettings}


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)


@hookimpl
def register_payment_providers(register: Callable[[Any], None], settings: Settings) -> None:
    provider = StripeProvider(stripe_settings(settings))
    _providers.append(provider)
    register(provider)


@hookimpl
def startup(services: PluginServices) -> None:
    """Refuse to start without the keys (a misconfigured payment server says so at once), and hand the
    provider its database."""
    for provider in _providers:
        if provider.settings is stripe_settings(services.settings):
            provider.check_configured()
            provider.db = services.db
