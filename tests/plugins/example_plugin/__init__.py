"""A plugin that uses every hook, through the public plugin API only: the platform's own test subject.

It keeps a guest book: its settings table (`[plugins.example]`), its migration (a table of visits), start-up
and shut-down notes in that table, a page in the app's layout and a JSON route, a sign-in button, a CLI
command, a chat model, a prompt injector and a toy payment provider (nothing is ever charged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import typer
from litestar import Request, get
from litestar.response import Template

from bostonia.plugin_api import (
    ChatModel,
    CheckoutCustomer,
    CheckoutSession,
    CurrentUser,
    Database,
    GenerationRequest,
    InvalidInput,
    Migrations,
    PaymentEvent,
    PayoutOrder,
    PluginServices,
    PromptInjection,
    Settings,
    Viewer,
    csrf_token,
    hookimpl,
    plugin_config,
    plugin_services,
    render_page,
    run_with_services,
    sqlite3,
)

NAME = "example"
migrations = Migrations(NAME)


class ExampleSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    greeting: str = "Hello"
    lore: str = "In this world the moon is made of green cheese."


def settings_of(settings: Settings) -> ExampleSettings:
    return plugin_config(settings, NAME, ExampleSettings)


@migrations()
def m001_visits(db: Any) -> None:
    db.execute("create table example_visits (id integer primary key, who text not null, note text not null)")


def record(conn: sqlite3.Connection, who: str, note: str) -> None:
    conn.execute("insert into example_visits (who, note) values (?, ?)", (who, note))


async def notes(db: Database) -> list[str]:
    return [row["note"] for row in await db.fetchall("select note from example_visits order by id")]


class EchoModel:
    """A chat model that repeats the last message: enough to show a plugin registering models."""

    model_id = "example-echo"
    context_size = 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request: GenerationRequest, should_stop: Callable[[], bool]) -> Iterator[str]:
        yield f"You said: {request.messages[-1].content}"


class LoreInjector:
    def __init__(self, lore: str) -> None:
        self.lore = lore

    async def injections(
        self, user: Any, conversation: Any, character: Any, history: Sequence[Any]
    ) -> list[PromptInjection]:
        return [PromptInjection(name="example", content=self.lore, depth=1)]


@get("/example", include_in_schema=False)
async def guest_book(viewer: Viewer, request: Request[Any, Any, Any]) -> Template:
    services = plugin_services(request)
    if viewer is not None:
        await services.db.write(lambda conn: record(conn, viewer.id, "visit"))
    config = settings_of(services.settings)
    return render_page(
        "example.html",
        user=viewer,
        greeting=config.greeting,
        visits=len(await notes(services.db)),
        token_length=len(csrf_token(request)),
    )


@get("/api/example/notes")
async def list_notes(user: CurrentUser, request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"notes": await notes(plugin_services(request).db), "for": user.email}


@hookimpl
def plugin_settings() -> dict[str, type]:
    return {NAME: ExampleSettings}


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)


@hookimpl
def register_models(register: Callable[[ChatModel], None]) -> None:
    register(EchoModel())


@hookimpl
def prompt_injectors(settings: Settings) -> list[Any]:
    return [LoreInjector(settings_of(settings).lore)]


@hookimpl
def extra_routes() -> list[Any]:
    return [guest_book, list_notes]


@hookimpl
def template_dirs() -> list[Path]:
    return [Path(__file__).parent / "templates"]


@hookimpl
def login_providers() -> list[dict[str, str]]:
    return [{"label": "Sign in with the guest book", "url": "/example"}]


class GuestbookModerator:
    """Flags the one word the guest book will not have (a moderation verdict from a plugin)."""

    name = NAME

    def moderate(self, text: str, context: str) -> dict[str, float] | None:
        return {"harassment": 0.9} if "guestbook-spam" in text.lower() else None


@hookimpl
def register_moderators(register: Callable[[Any], None]) -> None:
    register(GuestbookModerator())


class GuestbookPayments:
    """A payment provider that takes no money: checkouts lead back to the guest book, and its "webhook"
    accepts JSON events marked with an `x-example-event` header. It shows the provider's shape only."""

    name = NAME

    async def subscription_checkout(self, customer: CheckoutCustomer, **order: Any) -> CheckoutSession:
        return CheckoutSession(id=f"example-{order['tier']}", url="/example", customer_id=f"guest-{customer.user_id}")

    async def credits_checkout(self, customer: CheckoutCustomer, **order: Any) -> CheckoutSession:
        return CheckoutSession(id=f"example-{order['pack']}", url="/example", customer_id=f"guest-{customer.user_id}")

    async def cancel_subscription(self, subscription_id: str) -> None:
        return None

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        return "/example"

    def parse_webhook(self, payload: bytes, headers: Any) -> PaymentEvent:
        if headers.get("x-example-event") != "yes":
            raise InvalidInput("not an example event", code="bad_signature")
        body = msgspec.json.decode(payload)
        return PaymentEvent(id=str(body["id"]), type=str(body["type"]), kind="ignored")

    async def payout_account_link(self, creator_id: str, email: str, return_url: str) -> str:
        return "/example"

    async def send_payout(self, order: PayoutOrder) -> str:
        return f"example-transfer-{order.payout_id}"


@hookimpl
def register_payment_providers(register: Callable[[Any], None]) -> None:
    register(GuestbookPayments())


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    commands = typer.Typer(help="The example plugin's guest book.")

    @commands.command("notes")
    def show_notes() -> None:
        """Print the guest book."""

        async def read(services: Any) -> list[str]:
            return await notes(services.db)

        for note in run_with_services(read):
            typer.echo(note)

    cli.add_typer(commands, name=NAME)


@hookimpl
async def startup(services: PluginServices) -> None:
    greeting = settings_of(services.settings).greeting
    await services.db.write(lambda conn: record(conn, "plugin", f"startup: {greeting}"))


@hookimpl
async def shutdown(services: PluginServices) -> None:
    await services.db.write(lambda conn: record(conn, "plugin", "shutdown"))
