"""Prompt tokens a reply must read once the idle model has pre-read the conversation (the warm-up after
each reply): turn 30 of a long chat against turn 2 of a short one, with the real lore and memory
injectors. A measure of the KV-cache design that no machine load can blur; TTFT follows it.

Same chats as the chat engine benchmark (b): the lorebook card, a 1-message and a 57-message chat.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from benchmarks.chat_engine import LORE_CARD, long_chat
from bostonia.app import build_services, create_app
from bostonia.config import load_settings
from bostonia.llm.kvcache import common_prefix
from bostonia.plugins import make_plugin_manager

PASSWORD = "benchmark password 1"
DEBUG = bool(__import__("os").environ.get("BENCH_DEBUG"))


def reread_tokens() -> dict[str, tuple[int, ...]]:
    """Conversation -> (tokens to read at the reply, prompt tokens), turn 2 (short) and turn 30 (long); and
    under "<name> warm-up": what the warm-up after the turn before must read of its prompt, given what
    that turn's reply read (its prompt), with the history messages each left out."""
    data_dir = Path(tempfile.mkdtemp(prefix="bostonia-bench-prompt-"))
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "llm": {"max_tokens": 60},
            "memory": {"embedder": "minilm", "extraction": False, "summaries": False},
            "rate_limits": {"free": 1_000_000, "anonymous": 1_000_000},
        },
    )
    services = build_services(settings, make_plugin_manager([]))
    app = create_app(settings, services=services)
    rng = random.Random(11)
    found: dict[str, tuple[int, ...]] = {}
    with TestClient(app) as client:
        account = client.post("/api/v1/auth/register", json={"email": "p@example.com", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {account['access_token']}"}
        card = ("keeper.json", json.dumps(LORE_CARD).encode(), "application/json")
        body = client.post("/api/v1/characters/import", headers=headers, files={"file": card}).json()
        character = body["items"][0] if "items" in body else body
        chats: dict[str, str] = {}
        for name, size in (("turn 2", 1), ("turn 30", 57)):
            text = long_chat(name.replace(" ", ""), character["name"], size, rng)
            chats[name] = client.post(
                "/api/v1/conversations/import",
                data={"character_id": character["id"]},
                files={"file": ("chat.jsonl", text.encode(), "application/jsonl")},
                headers=headers,
            ).json()["id"]
        with client.portal() as portal:
            user: Any = portal.call(services.auth.users.get, account["user"]["id"])
            model: Any = services.models.default
            for name, conversation in chats.items():
                before = portal.call(
                    services.replies.preview_prompt, user, conversation, "The forest road, tell me of it."
                )
                # The turn before: the user's message and a reply, stored as a reply would be.
                path = portal.call(services.chat.conversations.path, conversation)
                asked = portal.call(
                    lambda c=conversation, p=path: services.chat.conversations.append(
                        conversation_id=c, parent_id=p[-1].id, role="user", content="The forest road, tell me of it."
                    )
                )
                portal.call(
                    lambda c=conversation, a=asked: services.chat.conversations.append(
                        conversation_id=c, parent_id=a.id, role="assistant", content="It winds past the old mill."
                    )
                )
                services.chat.messages_changed(conversation)
                portal.call(services.indexer.idle, 300)
                warm = portal.call(services.replies.preview_prompt, user, conversation, None)
                turn = portal.call(
                    services.replies.preview_prompt, user, conversation, "And the river by the mountain?"
                )
                warm_tokens = model.prompt_tokens(warm.messages)
                turn_tokens = model.prompt_tokens(turn.messages)
                found[name] = (len(turn_tokens) - common_prefix(warm_tokens, turn_tokens), len(turn_tokens))
                # The turn before's prompt is in the cache then (plus its reply, which the warm-up's also ends with).
                before_tokens = model.prompt_tokens(before.messages)
                found[f"{name} warm-up"] = (
                    len(warm_tokens) - common_prefix(before_tokens, warm_tokens),
                    len(warm_tokens),
                    before.dropped_messages,
                    warm.dropped_messages,
                )
                if DEBUG:
                    print(name, warm.dropped_messages, turn.dropped_messages, warm.budget, warm.tokens, turn.tokens)
                    print([(x.name, x.tokens) for x in warm.sections][-8:])
                    print([(x.name, x.tokens) for x in turn.sections][-8:])
    return found


def main() -> None:
    found = reread_tokens()
    short, long = found["turn 2"], found["turn 30"]
    print(
        f"  (4) prompt tokens a reply reads after the warm-up (lore + memory): turn 30 {long[0]} of {long[1]}, "
        f"turn 2 {short[0]} of {short[1]} = {long[0] / max(1, short[0]):.2f}x"
    )
    for name in ("turn 2", "turn 30"):
        read, total, dropped_before, dropped_after = found[f"{name} warm-up"]
        print(
            f"      the warm-up before {name} reads {read} of its {total} prompt tokens (history messages left out: "
            f"{dropped_before} in the turn before's prompt, {dropped_after} in the warm-up's)"
        )


if __name__ == "__main__":
    main()
