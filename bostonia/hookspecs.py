"""Every plugin hook, one docstring each. `docs/plugins.md` documents each one (a test checks it does).

Plugins implement these with `bostonia.plugin_api.hookimpl` and import nothing else of Bostonia but
`bostonia.plugin_api`. A hook implementation may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from bostonia.config import Settings
from bostonia.db import Database

if TYPE_CHECKING:
    import typer
    from sqlite_utils import Migrations

    from bostonia.billing.providers import PaymentProvider
    from bostonia.chat.replies import PromptInjector
    from bostonia.llm.base import ChatModel
    from bostonia.moderation.moderator import Moderator

hookspec = pluggy.HookspecMarker("bostonia")
hookimpl = pluggy.HookimplMarker("bostonia")


class PluginServices(Protocol):
    """What `startup` and `shutdown` receive: the running instance, as far as plugins may use it."""

    @property
    def settings(self) -> Settings:
        """The instance configuration; `plugin_config(services.settings, name)` is a plugin's own table."""
        ...

    @property
    def db(self) -> Database:
        """The instance database: `await db.write(fn)` (fn gets a connection inside one transaction),
        `await db.fetchall(sql, params)`, ... Plugins write only the tables their migrations created."""
        ...


@hookspec
def plugin_settings() -> dict[str, type] | None:
    """Declare the plugin's own configuration: `{name: StructType}`, a msgspec Struct for the
    `[plugins.<name>]` table of `bostonia.toml` (use `forbid_unknown_fields=True`).

    The table is validated at start-up, with the plugin's name in any error; `BOSTONIA_PLUGINS_<NAME>_<KEY>`
    overrides a key (JSON for lists and tables). Read it back with `plugin_config(settings, name)`.
    """


@hookspec
def register_migrations(register: Callable[[Migrations], None]) -> None:
    """Register the plugin's database migrations: call `register(migrations)` with a sqlite-utils
    `Migrations("<plugin name>")` set of named functions. Sets are applied in registration order after the
    core's at every start (and by `bostonia db migrate`); never edit or reorder an applied migration,
    only append new ones. A plugin owns the tables it creates (prefix their names with the plugin's)."""


@hookspec
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    """Register chat models by calling `register(model)` once per model.

    The built-in default plugin registers the bundled GGUF and every GGUF in `[llm] models_dir`.
    Cloud providers (OpenAI-compatible, Anthropic) register their models the same way.
    """


@hookspec
def prompt_injectors(settings: Settings) -> list[PromptInjector] | None:
    """Return objects that add dynamic material to the prompt of each reply (lore, memories, summaries).

    Each is a `PromptInjector`: `async def injections(user, conversation, character, history)` returning
    `PromptInjection`s. Injections sit at a fixed depth from the end of the history, so they never
    invalidate the model's cached prompt prefix.
    """


@hookspec
def extra_routes(settings: Settings) -> list[Any] | None:
    """Return extra Litestar route handlers or routers to mount in the app.

    Route parameters named `user` (signed in, else 401) and `viewer` (or None) receive the caller, typed
    `CurrentUser` / `Viewer` from the plugin API. State-changing browser requests need the CSRF token
    (`csrf_input` in templates); handlers that cannot carry one opt out with `opt={"exclude_from_csrf": True}`.
    """


@hookspec
def template_dirs() -> list[Path] | None:
    """Return folders of Jinja templates the plugin's pages render. They are searched after the core's,
    so a plugin template can `{% extends "base.html" %}` to sit in the app's layout (see `render_page`)."""


@hookspec
def login_providers(settings: Settings) -> list[dict[str, str]] | None:
    """Return the extra ways to sign in shown on the login page, as dicts with `label` (the button
    text, e.g. "Sign in with Google") and `url` (a same-site path that starts the sign-in; the page
    appends `?next=<path>`). The bostonia-oidc plugin returns one per configured provider.
    """


@hookspec
def register_moderators(register: Callable[[Moderator], None], settings: Settings) -> None:
    """Add verdicts to content moderation by calling `register(moderator)` once per moderator.

    A moderator has a `name` and `moderate(text, context) -> dict[str, float] | None`: scores from 0 to 1 for
    any of the categories `sexual`, `sexual_minors`, `violence`, `self_harm`, `harassment`, `hate`,
    `illegal` (0.5 and up flags the category; unknown keys are ignored). It is called for every checked
    text (chat messages, replies as they stream, `POST /api/v1/moderate/text`) on the moderation worker
    thread, so it may block briefly — a cloud moderation API plugin should keep a tight timeout. Its scores
    are combined with the built-in signals by taking the highest.
    """


@hookspec
def register_payment_providers(register: Callable[[PaymentProvider], None], settings: Settings) -> None:
    """Register payment providers by calling `register(provider)` once per provider.

    A `PaymentProvider` has a `name` and turns Bostonia's requests into calls to its service: checkouts for
    a tier or a credit pack, cancelling a subscription, a customer-portal link, a payout account link and
    payouts to creators, and `parse_webhook(payload, headers)`, which verifies a webhook's signature and
    translates it into a `PaymentEvent`. Bostonia applies events itself (idempotently, with their ledger
    rows); `[billing] payment_provider` picks one when several are registered. The bostonia-stripe plugin
    is the worked example.
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add command-line commands: `cli.add_typer(sub_app, name="<plugin>")` puts them under
    `bostonia <plugin> ...`. Commands that need the instance use `run_with_services` from the plugin API."""


@hookspec
def startup(services: PluginServices) -> Any:
    """Run once when the server (or an admin command) has opened the instance: migrations are applied and
    the plugin's settings validated. May be a coroutine function. An exception stops the start-up."""


@hookspec
def shutdown(services: PluginServices) -> Any:
    """Run once when the server stops, before the database closes. May be a coroutine function. An
    exception is logged and does not stop the others."""
