"""`bostonia user ...`: account administration from the shell, as the operator (whoever runs it owns the
server; every change is audit-logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bostonia.commands.common import OPERATOR, fail, run_with_services
from bostonia.identity import ROLES, TIERS, User

if TYPE_CHECKING:
    from bostonia.accounts.service import DeleteMode
    from bostonia.auth.schemas import ResetLink

user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
EMAIL = typer.Argument(help="The account's email address (or its id).")


def _line(user: User) -> str:
    flags = "" if user.is_active else " [disabled]"
    return f"{user.email:<40} {user.role:<8} {user.tier:<8} {user.display_name}{flags}"


@user_app.command("create")
def user_create(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: Annotated[str | None, typer.Option(help="Name shown in chats.")] = None,
    role: Annotated[str, typer.Option(help="user, creator or admin.")] = "user",
) -> None:
    """Create an account."""
    if role not in ROLES:
        raise fail(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user = run_with_services(lambda s: s.auth.register(email, password, display_name, role=role))
    typer.echo(f"created {user.email} ({user.role}) id={user.id}")


@user_app.command("list")
def user_list() -> None:
    """List accounts: email, role, tier, name."""
    users = run_with_services(lambda s: s.users.list(actor=OPERATOR))
    if not users:
        typer.echo("no users yet")
    for user in users:
        typer.echo(_line(user))


@user_app.command("show")
def user_show(email: Annotated[str, EMAIL]) -> None:
    """Show one account (never its conversations)."""
    profile = run_with_services(lambda s: s.users.show(email, actor=OPERATOR))
    for key, value in (
        ("id", profile.id),
        ("email", profile.email),
        ("name", profile.display_name),
        ("role", profile.role),
        ("tier", profile.tier),
        ("status", "active" if profile.is_active else "disabled"),
        ("age verified", "yes" if profile.age_verified else "no"),
        ("content tier", profile.content_tier),
        ("password", "set" if profile.has_password else "none"),
        ("linked sign-ins", ", ".join(profile.linked_providers) or "none"),
        ("created", profile.created_at),
        ("last login", profile.last_login_at or "never"),
    ):
        typer.echo(f"{key + ':':<17}{value}")


@user_app.command("set-role")
def user_set_role(email: Annotated[str, EMAIL], role: str) -> None:
    """Change an account's role (user, creator, admin)."""
    user = run_with_services(lambda s: s.users.set_role(email, role, actor=OPERATOR))
    typer.echo(f"{user.email} is now {user.role}")


@user_app.command("set-tier")
def user_set_tier(email: Annotated[str, EMAIL], tier: str) -> None:
    """Put an account on a plan (free, plus, pro, creator): its rate limit and entitlements follow."""
    if tier not in TIERS:
        raise fail(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    user = run_with_services(lambda s: s.users.set_tier(email, tier, actor=OPERATOR))
    typer.echo(f"{user.email} is now on the {user.tier} tier")


@user_app.command("disable")
def user_disable(email: Annotated[str, EMAIL]) -> None:
    """Disable an account: it is signed out everywhere and cannot sign in."""
    user = run_with_services(lambda s: s.accounts.set_active(email, False, actor=OPERATOR))
    typer.echo(f"{user.email} is disabled")


@user_app.command("enable")
def user_enable(email: Annotated[str, EMAIL]) -> None:
    """Enable a disabled account again."""
    user = run_with_services(lambda s: s.accounts.set_active(email, True, actor=OPERATOR))
    typer.echo(f"{user.email} is enabled")


@user_app.command("delete")
def user_delete(
    email: Annotated[str, EMAIL],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    mode: Annotated[str | None, typer.Option(help="delete or anonymise (default: [privacy] delete_mode).")] = None,
) -> None:
    """Delete an account and everything it owns, in one transaction."""
    if mode not in (None, "delete", "anonymise"):
        raise fail(f"unknown mode {mode!r}; choose delete or anonymise")
    if not yes:
        typer.confirm(f"Delete {email} and everything it owns? This cannot be undone", abort=True)
    chosen: DeleteMode | None = mode  # type: ignore[assignment]  # checked above
    counts = run_with_services(lambda s: s.accounts.delete(email, actor=OPERATOR, mode=chosen))
    removed = ", ".join(f"{n} {kind}" for kind, n in counts.items() if kind != "users")
    typer.echo(f"deleted {email} ({removed})")


@user_app.command("reset-link")
def user_reset_link(email: Annotated[str, EMAIL]) -> None:
    """Print a single-use password-reset link to hand to the user."""

    async def make(services: Any) -> ResetLink:
        settings = services.settings
        base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
        user = await services.users.find(email, actor=OPERATOR)
        return await services.recovery.admin_link(user, base, actor=OPERATOR)

    link = run_with_services(make)
    typer.echo(link.url)
    typer.echo(f"(single use; expires {link.expires_at})", err=True)


@user_app.command("api-key")
def user_api_key(
    email: Annotated[str, EMAIL],
    name: Annotated[str, typer.Option(help="What the key is for (shown in the account's key list).")] = "cli",
    list_keys: Annotated[bool, typer.Option("--list", help="List the account's keys instead of making one.")] = False,
    revoke: Annotated[str | None, typer.Option(help="Revoke the key with this id instead.")] = None,
) -> None:
    """Make an API key for an account (printed once, on stdout), or list or revoke its keys."""

    async def run(services: Any) -> Any:
        user = await services.users.find(email, actor=OPERATOR)
        if revoke:
            await services.auth.api_keys.revoke(user, revoke)
            return None
        if list_keys:
            return await services.auth.api_keys.list(user)
        return await services.auth.api_keys.create(user, name)

    result = run_with_services(run)
    if revoke:
        typer.echo(f"revoked {revoke}")
    elif list_keys:
        for key in result:
            state = "revoked" if key.revoked_at else f"last used {key.last_used_at or 'never'}"
            typer.echo(f"{key.id}  {key.prefix}...  {key.name:<24} {state}")
    else:
        typer.echo(f"API key {result.key.name!r} for {email} (id {result.key.id}; shown once):", err=True)
        typer.echo(result.secret)
