"""`bostonia memory reindex`: the recall index rebuilt from the shell, with a progress bar."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typer.testing import CliRunner

from bostonia.app import build_services
from bostonia.chat.store import ImportedMessage
from bostonia.cli import app
from bostonia.config import load_settings
from bostonia.plugins import make_plugin_manager

runner = CliRunner()


def make_chat(messages: int) -> tuple[str, str]:
    """Two conversations of `messages` messages, stored without any indexer listening."""

    async def build() -> tuple[str, str]:
        services = build_services(load_settings(), make_plugin_manager([]))
        await services.db.migrate()

        def insert(conn: Any) -> None:
            conn.execute("insert into users (id, email, display_name) values ('u', 'u@x.test', 'U')")
            conn.execute("insert into characters (id, name) values ('c', 'C')")

        await services.db.write(insert)
        ids = []
        for tag in ("first", "second"):
            chat = [
                ImportedMessage(
                    key=str(i),
                    parent_key=str(i - 1) if i else None,
                    role="user" if i % 2 == 0 else "assistant",
                    content=f"{tag} chat, message {i}",
                    created_at=f"2026-01-01T00:00:{i:02d}.000Z",
                )
                for i in range(messages)
            ]
            conversation = await services.chat.conversations.import_tree(
                user_id="u", character_id="c", title=tag, messages=chat, leaf_key=str(messages - 1)
            )
            ids.append(conversation.id)
        services.db.close()
        return ids[0], ids[1]

    return asyncio.run(build())


def indexed() -> dict[str, int]:
    async def count() -> dict[str, int]:
        services = build_services(load_settings(), make_plugin_manager([]))
        rows = await services.db.fetchall(
            "select conversation_id, count(*) as n from memory_documents group by conversation_id"
        )
        services.db.close()
        return {row["conversation_id"]: row["n"] for row in rows}

    return asyncio.run(count())


def test_reindex_one_conversation_then_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSTONIA_MEMORY_EMBEDDER", "hashing")
    monkeypatch.setenv("BOSTONIA_MEMORY_EXTRACTION", "false")
    monkeypatch.setenv("BOSTONIA_MEMORY_SUMMARIES", "false")
    first, second = make_chat(12)
    result = runner.invoke(app, ["memory", "reindex", "--conversation", first], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "indexed 12 messages" in result.output and "indexing messages" in result.output
    assert indexed()[first] == 12
    result = runner.invoke(app, ["memory", "reindex"], catch_exceptions=False)
    assert result.exit_code == 0 and "indexed 24 messages" in result.output
    assert indexed() == {first: 12, second: 12}
    missing = runner.invoke(app, ["memory", "reindex", "--conversation", "nope"])
    assert missing.exit_code == 1 and "no conversation nope" in missing.output
