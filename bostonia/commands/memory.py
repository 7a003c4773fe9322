"""`bostonia memory ...`: rebuild the recall index from the shell."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bostonia.commands.common import fail, run_with_services

memory_app = typer.Typer(help="Memory: the recall index of conversations.", no_args_is_help=True)


@memory_app.command("reindex")
def memory_reindex(
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Only this conversation (its id); default: all.")
    ] = None,
) -> None:
    """Index every message again (after changing the embedding model, or to repair the index)."""

    async def reindex(services: Any) -> int:
        # This command does the work itself, with a progress bar: the server's background worker stands down.
        await services.indexer.stop()
        store = services.memory.store
        if conversation is not None:
            if await services.chat.conversations.get(conversation) is None:
                raise fail(f"no conversation {conversation}")
            targets = [conversation]
        else:
            targets = await store.conversation_ids()
        for target in targets:
            await store.forget_conversation(target)
            services.memory.vectors.removed(target)
        total = sum([await store.pending(target) for target in targets])
        with typer.progressbar(length=total, label="indexing messages", file=None) as bar:
            services.indexer.on_indexed.append(lambda _conversation, count: bar.update(count))
            done = 0
            for target in targets:
                done += await services.indexer.index_conversation(target)
        return done

    done = run_with_services(reindex)
    typer.echo(f"indexed {done} messages")
