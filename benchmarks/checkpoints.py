"""Issue 14: what crash checkpoints cost. A reply in flight writes its text at most once a second; this times
one such write (a 1,200-character reply, about 300 tokens) on the database's single writer, against a
baseline write measured in the same run (touching one conversation row), and against what the same
checkpoint would cost as an update of a `messages` row (its full-text index rewritten each time)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, percentile
from bostonia.app import MIGRATIONS
from bostonia.chat.checkpoint_store import Checkpoint, CheckpointStore
from bostonia.chat.store import ConversationStore
from bostonia.db import Database
from bostonia.db.values import new_id, utcnow

WRITES = 300
TEXT = ("The sea was grey and the lighthouse stood alone against the storm. " * 20)[:1200]


async def timed(write: object, times: int = WRITES) -> list[float]:
    samples = []
    for n in range(times):
        started = time.perf_counter()
        await write(n)  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(path: Path) -> None:
    db = Database(path, migrations=MIGRATIONS)
    await db.migrate()
    user_id, character_id = new_id(), new_id()
    await db.execute_write(
        "insert into users (id, email, display_name) values (?, ?, 'bench')", (user_id, "bench@example.com")
    )
    await db.execute_write("insert into characters (id, name) values (?, 'Bench')", (character_id,))
    conversations = ConversationStore(db)
    conversation = await conversations.create(user_id=user_id, character_id=character_id, greetings=["Hello."])
    history = await conversations.path(conversation.id)
    for n in range(2000):  # a conversation with some history, so indexes are not empty
        history.append(
            await conversations.append(
                conversation_id=conversation.id,
                parent_id=history[-1].id,
                role="user",
                content=f"line {n} " + TEXT[:200],
            )
        )
    store = CheckpointStore(db)
    reply_id = new_id()

    async def baseline(n: int) -> None:
        await db.execute_write("update conversations set updated_at = ? where id = ?", (utcnow(), conversation.id))

    async def checkpoint(n: int) -> None:
        await store.save(
            Checkpoint(
                message_id=reply_id,
                conversation_id=conversation.id,
                parent_id=history[-1].id,
                mode="reply",
                prefix="",
                content=TEXT[: 200 + n % 1000],
                started_at=utcnow(),
            )
        )

    as_message = await conversations.append(
        conversation_id=conversation.id, parent_id=history[-1].id, role="assistant", content=""
    )

    async def message_update(n: int) -> None:
        await db.execute_write("update messages set content = ? where id = ?", (TEXT[: 200 + n % 1000], as_message.id))

    base = await timed(baseline)
    saved = await timed(checkpoint)
    updated = await timed(message_update)
    db.close()
    print("crash checkpoints (one write of a reply's text so far, on the single writer)")
    print(f"  baseline write (touch a conversation)   p50 {median(base):6.2f} ms  p99 {percentile(base, 99):6.2f} ms")
    print(
        f"  checkpoint (reply_checkpoints upsert)    p50 {median(saved):6.2f} ms  p99 {percentile(saved, 99):6.2f} ms"
        f"  ({median(saved) / median(base):.2f}x baseline)"
    )
    print(
        f"  as a messages update (FTS reindexed)     p50 {median(updated):6.2f} ms"
        f"  p99 {percentile(updated, 99):6.2f} ms"
        f"  ({median(updated) / median(base):.2f}x baseline)"
    )
    print(f"  at one checkpoint a second per reply: {median(saved) / 10:.3f} % of the writer per streaming reply")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bostonia-bench-") as folder:
        asyncio.run(run(Path(folder) / "bench.db"))


if __name__ == "__main__":
    main()
