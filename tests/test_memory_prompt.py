"""Memories in the prompt: recalled at a fixed depth, within budget, shown by the prompt view."""

from __future__ import annotations

import itertools
import json
from typing import Any

from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.memory.injector import CONTEXT_STEP, render
from bostonia.memory.schemas import SearchItem
from tests.fakes import ScriptedModel
from tests.helpers import bearer
from tests.test_memory_recall import settle

FACT = "My sister Leah lives in Montreal and plays the oboe in an orchestra."


def long_chat(messages: int) -> bytes:
    """A chat long enough that its first turns are no longer in the prompt of its next reply."""
    lines = [json.dumps({"user_name": "Ren", "character_name": "Mira", "create_date": "2026-01-01"})]
    for i in range(messages):
        text = FACT if i == 2 else f"Turn {i}: we talk about the weather, the tea and the garden again, at length. " * 2
        lines.append(json.dumps({"name": "Ren" if i % 2 == 0 else "Mira", "is_user": i % 2 == 0, "mes": text}))
    return "\n".join(lines).encode()


def import_long_chat(client: TestClient[Any], account: dict[str, Any], messages: int = 160) -> str:
    character = client.get("/api/v1/characters", headers=bearer(account)).json()["items"][0]["id"]
    response = client.post(
        "/api/v1/conversations/import",
        data={"character_id": character},
        files={"file": ("chat.jsonl", long_chat(messages), "application/jsonl")},
        headers=bearer(account),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_prompt_recalls_an_old_turn_at_the_fixed_depth(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    conversation = import_long_chat(client, alice)
    settle(client, services)
    view = client.get(
        f"/api/v1/conversations/{conversation}/prompt",
        params={"content": "Which instrument does Leah play in Montreal?"},
        headers=bearer(alice),
    ).json()
    sections = view["sections"]
    memory = [i for i, s in enumerate(sections) if "memory" in s["name"]]
    # The context block before the exchange it was recalled for, the query block after the new message.
    assert len(memory) == 2, [s["name"] for s in sections]
    context, query = (sections[i] for i in memory)
    between = sections[memory[0] + 1 : -2]
    assert 2 <= len([s for s in between if s["name"] == "history"]) <= CONTEXT_STEP + 1
    assert memory[1] == len(sections) - 1
    assert sections[-2]["content"] == "Which instrument does Leah play in Montreal?"
    assert "Ren: " + FACT in query["content"]  # the new message recalls the old turn
    assert FACT not in context["content"]  # ... which the last exchange (small talk) did not
    assert context["role"] == query["role"] == "system"
    assert view["dropped_messages"] > 2  # the fact's own turn is out of the history: only memory brings it
    budget = services.settings.llm.context_size * services.settings.memory.prompt_share
    assert context["tokens"] + query["tokens"] <= budget


def test_a_warm_up_renders_the_context_block_the_reply_will_have(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    """The prompt prepared while the user types and the reply's prompt share everything up to the end of
    the context memory block: the model has read it before the user sends."""
    conversation = import_long_chat(client, alice)
    settle(client, services)
    url = f"/api/v1/conversations/{conversation}/prompt"
    warm = client.get(url, headers=bearer(alice)).json()["sections"]
    reply = client.get(url, params={"content": "Tell me more."}, headers=bearer(alice)).json()["sections"]
    at = next(i for i, s in enumerate(reply) if s["name"] == "memory")
    assert [(s["name"], s["content"]) for s in warm[:at]] == [(s["name"], s["content"]) for s in reply[:at]]
    assert warm[at]["content"].startswith(reply[at]["content"])


def test_a_short_chat_gets_no_memory_block(client: TestClient[Any], services: Services, alice: dict[str, Any]) -> None:
    conversation = import_long_chat(client, alice, messages=6)
    settle(client, services)
    view = client.get(
        f"/api/v1/conversations/{conversation}/prompt", params={"content": "Leah?"}, headers=bearer(alice)
    ).json()
    assert not [s for s in view["sections"] if "memory" in s["name"]]  # everything is in the prompt already


def test_the_block_stays_within_its_budget() -> None:
    items = [
        SearchItem(
            content="x" * 1000,
            score=1.0,
            memory_type="message",
            source_message_ids=["m"],
            created_at="2026-05-01T10:00:00Z",
            role="user",
        )
        for _ in range(10)
    ]
    text = render(items, ("Ren", "Mira"), budget_chars=900, item_chars=300)
    assert len(text) <= 900
    assert text.count("\n- ") == 2 and "May 01, 2026: Ren: " in text  # two cut-down items fit
    assert render([], ("Ren", "Mira"), 900) == ""


def test_an_item_the_context_block_had_no_room_for_can_come_in_the_query_block() -> None:
    """The query block leaves out what the context block shows, not what it was offered: an item cut by the
    context block's budget is still recalled by the new message (found when the greeting took the room)."""
    import asyncio
    from types import SimpleNamespace

    from bostonia.config import MemoryConfig
    from bostonia.memory.injector import MemoryInjector

    def item(text: str) -> SearchItem:
        return SearchItem(
            content=text, score=1.0, memory_type="message", source_message_ids=[], created_at="", role="user"
        )

    bulky = [item("A long greeting, " + "word " * 80) for _ in range(3)]
    fact = item("I started a new job as a night nurse at Saint Mary's hospital.")

    class Memory:
        store = SimpleNamespace(speaker_names=lambda _id: asyncio.sleep(0, ("Sam", "Mira")))
        summarizer = SimpleNamespace(current=lambda *_: asyncio.sleep(0, None))
        vectors = SimpleNamespace(removals=lambda _id: 0)

        async def recall(self, _conversation: Any, text: str, _k: int, **_: Any) -> list[SearchItem]:
            return [*bulky, fact] if text != "Where do I work?" else [fact, *bulky]

    history = [
        SimpleNamespace(id=f"m{i}", role="user" if i % 2 else "assistant", content="x " * 200) for i in range(40)
    ]
    history.append(SimpleNamespace(id=None, role="user", content="Where do I work?"))
    config = MemoryConfig(prompt_items=5, reply_items=1)
    injector = MemoryInjector(Memory(), config, context_tokens=lambda: 1024)  # type: ignore[arg-type]
    context, query = asyncio.run(injector.injections(None, SimpleNamespace(id="c"), None, history))
    assert fact.content not in context.content  # the bulky items filled the context block ...
    assert fact.content in query.content  # ... so the new message's own recall brings the fact


def test_recall_leaves_out_just_what_the_last_prompt_kept() -> None:
    """What the conversation's last prompt kept is left out of recall, and nothing before it: an estimate of
    that line that ran past it hid the messages just dropped from both the prompt and the memories."""
    import asyncio
    from types import SimpleNamespace

    from bostonia.config import MemoryConfig
    from bostonia.memory.injector import MemoryInjector, recent_ids

    left_out: list[set[str]] = []

    class Memory:
        store = SimpleNamespace(speaker_names=lambda _id: asyncio.sleep(0, ("Sam", "Mira")))
        summarizer = SimpleNamespace(usable=lambda *_: asyncio.sleep(0, []))
        vectors = SimpleNamespace(removals=lambda _id: 0)

        async def recall(self, _conversation: Any, _text: str, _k: int, **options: Any) -> list[SearchItem]:
            left_out.append(set(options["exclude_messages"]) - {None})
            return []

    history = [
        SimpleNamespace(id=f"m{i}", role="user" if i % 2 else "assistant", content="x " * 200) for i in range(40)
    ]
    turn = [*history, SimpleNamespace(id=None, role="user", content="Where do I work?")]
    guessed = set(recent_ids(history, 1024))
    assert {"m35", "m36"} <= guessed  # what the estimate takes to be in the prompt

    def query_exclusions(conversation: str) -> set[str]:
        left_out.clear()
        asyncio.run(injector.injections(None, SimpleNamespace(id=conversation), None, turn))
        return left_out[-1]  # the query block's search (the context block's came first)

    injector = MemoryInjector(Memory(), MemoryConfig(prompt_items=5, reply_items=1), context_tokens=lambda: 1024)  # type: ignore[arg-type]
    injector.prompt_built(SimpleNamespace(id="c"), history, 37)
    assert query_exclusions("c") == {"m37", "m38", "m39"}  # m35 and m36 left the prompt: they may be recalled
    injector.prompt_built(SimpleNamespace(id="c"), history[:-3], 30)  # a build from fewer messages, done late
    assert query_exclusions("c") == {"m37", "m38", "m39"}  # does not hide m30-m36 again
    assert query_exclusions("other") == guessed  # no prompt built for it yet: the estimate
    injector.prompt_built(SimpleNamespace(id="d"), [SimpleNamespace(id="elsewhere", content="")], 0)
    assert query_exclusions("d") == guessed  # a start on another branch: the estimate too
    # The new message pushes the start on (to m39): the memories it was built with hid m37 and m38, which the
    # prompt no longer holds; the observer asks for a second build, whose recall may bring them.
    assert query_exclusions("c") == {"m37", "m38", "m39"}
    assert injector.prompt_built(SimpleNamespace(id="c"), turn, 39) is True
    assert query_exclusions("c") == {"m39"}
    assert injector.prompt_built(SimpleNamespace(id="c"), turn, 39) is False  # no hole: once is enough


def test_a_message_with_nothing_to_recall_by_gets_no_query_block_but_keeps_its_room(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    conversation = import_long_chat(client, alice)
    settle(client, services)

    def view(content: str) -> dict[str, Any]:
        return dict(
            client.get(
                f"/api/v1/conversations/{conversation}/prompt", params={"content": content}, headers=bearer(alice)
            ).json()
        )

    asked, nodded = view("Which instrument does Leah play in Montreal?"), view("*nods* Go on, please.")
    assert sum("memory" in s["name"] for s in asked["sections"]) == 2
    assert [s["name"] for s in nodded["sections"]].count("memory") == 1  # the context block only
    assert nodded["sections"][-1]["content"] == "*nods* Go on, please."
    assert nodded["dropped_messages"] == asked["dropped_messages"]  # the query block's room is kept


def test_the_reply_reuses_the_context_block_the_warm_up_recalled() -> None:
    """The warm-up's context block is the reply's (no second search while the user waits, and the same text
    the model read, even if the new message was indexed meanwhile); a deletion since makes it search again."""
    import asyncio
    from types import SimpleNamespace

    from bostonia.config import MemoryConfig
    from bostonia.memory.injector import MemoryInjector

    def item(text: str, source: str) -> SearchItem:
        return SearchItem(
            content=text, score=1.0, memory_type="message", source_message_ids=[source], created_at="", role="user"
        )

    searches: list[str] = []
    removals = {"c": 0}
    found = {"old": [item("I adopted a beagle called Biscuit.", "m3")]}

    class Memory:
        store = SimpleNamespace(speaker_names=lambda _id: asyncio.sleep(0, ("Sam", "Mira")))
        summarizer = SimpleNamespace(current=lambda *_: asyncio.sleep(0, None))
        vectors = SimpleNamespace(removals=lambda conversation_id: removals[conversation_id])

        async def recall(self, _conversation: Any, text: str, _k: int, **_: Any) -> list[SearchItem]:
            searches.append(text)
            return list(found["old"])

    history = [
        SimpleNamespace(id=f"m{i}", role="user" if i % 2 else "assistant", content="x " * 200) for i in range(41)
    ]  # ends with a reply: a warm-up
    new_message = SimpleNamespace(id="m41", role="user", content="How is my dog?")
    injector = MemoryInjector(Memory(), MemoryConfig(prompt_items=5, reply_items=1), context_tokens=lambda: 1024)  # type: ignore[arg-type]
    conversation = SimpleNamespace(id="c")
    warm_context, _ = asyncio.run(injector.injections(None, conversation, None, history))
    assert searches == [history[-1].content]  # the warm-up recalls for the last exchange
    found["old"] = [item("Something the new message brought in.", "m41")]  # what a search would find now
    context, _ = asyncio.run(injector.injections(None, conversation, None, [*history, new_message]))
    assert searches == [history[-1].content, "How is my dog?"]  # only the new message's own search
    assert context.content == warm_context.content and "Biscuit" in context.content
    removals["c"] += 1  # a memory was deleted, or a message edited: the block is searched again
    context, _ = asyncio.run(injector.injections(None, conversation, None, [*history, new_message]))
    assert searches[2] == history[-1].content and "Biscuit" not in context.content


def test_the_context_block_stays_put_until_the_chat_has_moved_on() -> None:
    """Turn after turn the context block keeps its text and its place (counted from the start of the chat),
    in the warm-up and in the reply, so the model reads it once; once the chat has grown by `CONTEXT_STEP`
    messages it moves to the exchange before the newest. One search per move."""
    import asyncio
    from types import SimpleNamespace

    from bostonia.config import MemoryConfig
    from bostonia.memory.injector import MemoryInjector

    searches: list[str] = []

    class Memory:
        store = SimpleNamespace(speaker_names=lambda _id: asyncio.sleep(0, ("Sam", "Mira")))
        summarizer = SimpleNamespace(usable=lambda *_: asyncio.sleep(0, []))
        vectors = SimpleNamespace(removals=lambda _id: 0)

        async def recall(self, _conversation: Any, text: str, _k: int, **_: Any) -> list[SearchItem]:
            searches.append(text)
            content = f"Once we spoke of {text.split()[0]}."  # a block that differs with its exchange
            return [
                SearchItem(
                    content=content,
                    score=1.0,
                    memory_type="message",
                    source_message_ids=["m0"],
                    created_at="",
                    role="user",
                )
            ]

    chat = [
        SimpleNamespace(id=f"m{i}", role="user" if i % 2 else "assistant", content=f"turn{i} " + "x " * 200)
        for i in range(41 + 4 * CONTEXT_STEP)
    ]
    injector = MemoryInjector(Memory(), MemoryConfig(prompt_items=5, reply_items=0), context_tokens=lambda: 1024)  # type: ignore[arg-type]
    conversation = SimpleNamespace(id="c")

    def block(history: list[Any]) -> tuple[int, str]:
        injections = asyncio.run(injector.injections(None, conversation, None, history))
        context = next(i for i in injections if i.name == "memory")
        return len(history) - context.depth, context.content  # its place from the start, its text

    placed = []
    for n in range(41, len(chat) - 1, 2):  # n messages, the last a reply: the warm-up, then the reply
        warm = block(chat[:n])
        assert block(chat[: n + 1]) == warm  # the reply has the block the warm-up read
        placed.append(warm)
    places = [place for place, _ in placed]
    moves = [b - a for a, b in itertools.pairwise(places) if b != a]
    assert moves and set(moves) == {CONTEXT_STEP}  # it moves, by CONTEXT_STEP messages at a time
    assert len({text for _, text in placed}) == len(set(places))  # one text per place ...
    assert len(searches) == len(set(places))  # ... searched for once
    for place, text in placed:
        assert text.startswith("[Memories") and f"turn{place + 1}" in text  # about the exchange after it


def test_a_long_item_is_cut_to_the_sentence_that_answers() -> None:
    from bostonia.memory.injector import excerpt

    turn = (
        "We had a long day at the fair and the rides were fun. Anyway, my dog Biscuit finally learned to sit! "
        "I am so proud of him and his tiny paws."
    )
    assert excerpt("Short enough.", 60, "dog") == "Short enough."
    assert excerpt(turn, 90, "How is my dog doing?") == (
        "Anyway, my dog Biscuit finally learned to sit! I am so proud of him and his tiny paws."
    )
    cut = excerpt(turn, 60, "How is my dog doing?")
    assert cut.startswith("Anyway, my dog Biscuit") and cut.endswith("…") and len(cut) <= 60
    assert excerpt(turn, 60, "the weather").startswith("We had a long day")  # nothing shared: the opening


def test_the_reply_lets_the_engine_drop_the_context_block_not_the_query_block(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    """The context block moves on every few turns: the request marks it droppable, so the local engine takes the
    old one out of its cache and keeps the turns after it. The query block is read at the end, never kept."""
    conversation = import_long_chat(client, alice)
    settle(client, services)
    client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"content": "Which instrument does Leah play in Montreal?"},
        headers=bearer(alice),
    )
    request = model.replies[-1]
    system = [m.content for m in request.messages[1:] if m.role == "system"]
    context = [text for text in system if text.startswith("[Memories of earlier in this chat")]
    query = [text for text in system if "also remembers" in text]
    assert len(context) == 1 and FACT in query[0]
    assert request.droppable == (context[0],)


def test_a_prompt_is_built_again_when_an_observer_finds_its_material_left_messages_out(
    client: TestClient[Any], services: Services, alice: dict[str, Any]
) -> None:
    """A `PromptObserver` that answers True (its recall left out messages the prompt turned out not to hold)
    gets asked for its material once more, and the prompt is built with the new material."""
    from bostonia.prompt.builder import PromptInjection

    class Twice:
        """Asks for a second build of the first prompt answering "hi" (warm-ups may come in between)."""

        def __init__(self) -> None:
            self.asked: list[str] = []
            self.told: list[str] = []

        async def injections(self, _user: Any, _conversation: Any, _character: Any, history: Any) -> list[Any]:
            self.asked.append(history[-1].content)
            passes = self.asked.count("hi")
            return [PromptInjection(name="probe", content=f"[probe pass {passes}]", depth=1, reserve=20)]

        def prompt_built(self, _conversation: Any, history: Any, _kept_from: int) -> bool:
            self.told.append(history[-1].content)
            return self.told.count("hi") == 1

    probe = Twice()
    services.replies.injectors.append(probe)
    character = client.get("/api/v1/characters", headers=bearer(alice)).json()["items"][0]["id"]
    conversation = client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(alice))
    view = client.get(
        f"/api/v1/conversations/{conversation.json()['id']}/prompt", params={"content": "hi"}, headers=bearer(alice)
    ).json()
    shown = "\n".join(s["content"] for s in view["sections"])
    assert "[probe pass 2]" in shown and "[probe pass 1]" not in shown
    assert probe.asked.count("hi") == 2 and probe.told.count("hi") == 2
