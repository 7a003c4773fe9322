"""Every plugin hook, one docstring each. A test fails when a hook here is undocumented."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from bostonia.config import Settings
    from bostonia.llm.base import ChatModel
    from bostonia.moderation.moderator import Moderator

hookspec = pluggy.HookspecMarker("bostonia")
hookimpl = pluggy.HookimplMarker("bostonia")


@hookspec
def register_models(register: Callable[[ChatModel], None], settings: Settings) -> None:
    """Register chat models by calling `register(model)` once per model.

    The built-in default plugin registers the bundled GGUF and every GGUF in `[llm] models_dir`.
    Cloud providers (OpenAI-compatible, Anthropic) register their models the same way.
    """


@hookspec
def prompt_injectors(settings: Settings) -> list[Any] | None:
    """Return objects that add dynamic material to the prompt of each reply (lore, memories, summaries).

    Each has `async def injections(user, conversation, character, history) -> list[PromptInjection]`
    (see `bostonia.chat.replies.PromptInjector`). Injections sit at a fixed depth from the end of the
    history, so they never invalidate the model's cached prompt prefix.
    """


@hookspec
def extra_routes(settings: Settings) -> list[Any] | None:
    """Return extra Litestar route handlers or routers to mount in the app."""


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
    text (chat messages, replies sentence by sentence, `POST /api/v1/moderate/text`) on the moderation
    worker thread, so it may block briefly — a cloud moderation API plugin should keep a tight timeout.
    Its scores are combined with the built-in signals by taking the highest.
    """
