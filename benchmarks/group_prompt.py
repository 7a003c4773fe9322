"""Prompt tokens each reply of a group chat must read before it can start (the rest is llama.cpp's cached
prefix), over twelve turns of a three-character chat where the speaker changes almost every turn:

- swap, one model session per speaker (Bostonia's): a speaker's cache holds its card and the history;
- swap, one session for the chat (the baseline: what reusing the one-to-one design would do — the card at
  the top changes with the speaker, so almost nothing is reused);
- join, one session: every card merged into a system message that is the same whoever speaks.

Counted with the bundled model's own tokenizer on the prompts the reply service builds: a measure of the
design that no machine load can blur (prefill time follows it, ~160-250 tokens/s here).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from bostonia.app import build_services, create_app
from bostonia.chat.schemas import Speaker
from bostonia.chat.stage import session_for
from bostonia.config import load_settings
from bostonia.llm.base import ChatMessage
from bostonia.llm.kvcache import common_prefix
from bostonia.plugins import make_plugin_manager

PASSWORD = "benchmark password 1"
NAMES = ("Juniper Ashdown", "Professor Alder Quill", "Captain Mira Vance")
TURNS = 12
SAID = ["The road north is flooded.", "Someone left a lantern by the door.", "Shall we look at the map again?"]
REPLIES = ["*nods slowly* Then we wait for the tide.", "*turns the lantern over* Brass, and still warm.", "Aye."]


def tokens_read() -> dict[str, tuple[int, int]]:
    """Mode -> (prompt tokens read over all turns, prompt tokens in all)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bostonia-bench-group-"))
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "llm": {"max_tokens": 60},
            "memory": {"extraction": False, "summaries": False},
            "moderation": {"similarity": False},
            "rate_limits": {"free": 1_000_000, "anonymous": 1_000_000},
        },
    )
    services = build_services(settings, make_plugin_manager([]))
    app = create_app(settings, services=services)
    totals: dict[str, list[int]] = {"swap, a session per speaker": [0, 0], "swap, one session": [0, 0], "join": [0, 0]}
    with TestClient(app) as client:
        account = client.post("/api/v1/auth/register", json={"email": "g@example.com", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {account['access_token']}"}
        ids = {c["name"]: c["id"] for c in client.get("/api/v1/characters").json()["items"]}
        cast = [ids[name] for name in NAMES]
        with client.portal() as portal:
            user: Any = portal.call(services.auth.users.get, account["user"]["id"])
            model: Any = services.models.default
            for mode in ("swap", "join"):
                conversation_id = client.post(
                    "/api/v1/conversations", json={"character_ids": cast, "card_mode": mode}, headers=headers
                ).json()["id"]
                conversation = portal.call(services.chat.conversations.get, conversation_id)
                rng = random.Random(5)
                caches: dict[str, list[int]] = {}
                last = None
                for turn in range(TURNS):
                    # A person speaks, then a character other than the last one answers.
                    speaker = rng.choice([c for c in cast if c != last])
                    last = speaker
                    path = portal.call(services.chat.conversations.path, conversation_id)
                    asked = portal.call(
                        lambda c=conversation_id, p=path, t=turn: services.chat.conversations.append(
                            conversation_id=c,
                            parent_id=p[-1].id,
                            role="user",
                            content=SAID[t % len(SAID)],
                            speaker=Speaker(user_id=user.id, name=user.display_name),
                        )
                    )
                    history = [*path, asked]
                    character = portal.call(services.characters.of_conversation, speaker)
                    prompt, _ = portal.call(
                        lambda h=history, ch=character, cv=conversation: services.replies._prompt(
                            user, cv, model, h, character=ch
                        )
                    )
                    tokens = model.prompt_tokens(prompt.messages, continue_last=True)
                    reply = REPLIES[turn % len(REPLIES)]
                    started = prompt.messages[-1].content  # the speaker's name: the reply goes on from it
                    finished = [*prompt.messages[:-1], ChatMessage("assistant", f"{started} {reply}")]
                    after = model.prompt_tokens(finished, continue_last=True)
                    keys = (
                        {
                            "swap, a session per speaker": session_for(conversation, speaker),
                            "swap, one session": conversation_id,
                        }
                        if mode == "swap"
                        else {"join": session_for(conversation, speaker)}
                    )
                    for label, key in keys.items():
                        cached = caches.get(label + key, [])
                        totals[label][0] += len(tokens) - common_prefix(cached, tokens)
                        totals[label][1] += len(tokens)
                        caches[label + key] = after  # what that session holds once the reply is written
                    portal.call(
                        lambda c=conversation_id, a=asked, s=speaker, r=reply: services.chat.conversations.append(
                            conversation_id=c,
                            parent_id=a.id,
                            role="assistant",
                            content=r,
                            speaker=Speaker(character_id=s),
                        )
                    )
    return {label: (read, whole) for label, (read, whole) in totals.items()}


def main() -> None:
    found = tokens_read()
    baseline = found["swap, one session"][0]
    print(f"  group chat, {TURNS} turns of 3 characters: prompt tokens read before each reply can start")
    for label, (read, whole) in found.items():
        print(f"    {label:>28}: {read:6d} of {whole:6d} ({read / max(1, baseline):.2f}x the one-session baseline)")


if __name__ == "__main__":
    main()
