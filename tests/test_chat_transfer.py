"""Conversation export (SillyTavern JSONL, text, Bostonia JSON) and import, with round trips."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.chat.transfer import parse_date
from tests.fakes import ScriptedModel
from tests.helpers import (
    API,
    bearer,
    error_of,
    first_character,
    messages,
    new_conversation,
    send,
)

# A chat as SillyTavern writes it (1.12-style: humanized dates, swipes with swipe_info, extras).
ST_CHAT = (
    "\n".join(
        json.dumps(line)
        for line in [
            {
                "user_name": "Ren",
                "character_name": "Juniper Ashdown",
                "create_date": "2025-04-01@21h05m09s",
                "chat_metadata": {
                    "note_prompt": "Keep it cozy.",
                    "note_depth": 4,
                    "world_info": "Tavern lore",
                    "variables": {"mood": "warm"},
                },
            },
            {
                "name": "Juniper Ashdown",
                "is_user": False,
                "is_system": False,
                "send_date": "April 1, 2025 9:05pm",
                "mes": "Well, look what the storm dragged in!",
                "extra": {},
                "swipe_id": 0,
                "swipes": ["Well, look what the storm dragged in!"],
                "swipe_info": [],
                "force_avatar": "juniper.png",
            },
            {
                "name": "Ren",
                "is_user": True,
                "is_system": False,
                "send_date": "April 1, 2025 9:06pm",
                "mes": "Any rooms left?",
                "extra": {"bias": "x"},
                "force_avatar": "User Avatars/ren.png",
            },
            {
                "name": "Juniper Ashdown",
                "is_user": False,
                "is_system": False,
                "send_date": "April 1, 2025 9:06pm",
                "mes": "One, above the kitchen.",
                "extra": {"api": "koboldcpp", "model": "mythomax", "token_count": 7},
                "swipe_id": 1,
                "swipes": ["All full, sorry.", "One, above the kitchen.", "Only the stable."],
                "swipe_info": [
                    {"send_date": "April 1, 2025 9:06pm", "extra": {}},
                    {"send_date": "April 1, 2025 9:07pm", "extra": {}},
                    {"send_date": "April 1, 2025 9:08pm", "extra": {}},
                ],
                "gen_started": "2025-04-01T21:06:40.000Z",
                "gen_finished": "2025-04-01T21:06:44.000Z",
            },
            {"name": "System", "is_user": False, "is_system": True, "send_date": 1743541620000, "mes": "[Ren rests.]"},
        ]
    )
    + "\n"
)


def upload(
    client: TestClient[Any], account: dict[str, Any], character_id: str, content: bytes, name: str = "chat.jsonl"
) -> Any:
    return client.post(
        f"{API}/import",
        data={"character_id": character_id},
        files={"file": (name, content, "application/octet-stream")},
        headers=bearer(account),
    )


# The opening the other programs' chats below share (role, text).
STORM = [
    ("assistant", "Well, look what the storm dragged in!"),
    ("user", "Any rooms left?"),
    ("assistant", "One, above the kitchen."),
]


def said(path: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in path]


def test_sillytavern_chat_imports_with_order_swipes_and_dates(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    response = upload(client, alice, juniper["id"], ST_CHAT.encode())
    assert response.status_code == 201, response.text
    conversation = response.json()
    assert conversation["title"] == "Any rooms left?" and conversation["character_id"] == juniper["id"]
    path = messages(client, alice, conversation["id"])
    assert [(m["role"], m["content"]) for m in path] == [
        ("assistant", "Well, look what the storm dragged in!"),
        ("user", "Any rooms left?"),
        ("assistant", "One, above the kitchen."),
        ("system", "[Ren rests.]"),
    ]
    assert (path[2]["sibling_count"], path[2]["sibling_index"]) == (3, 1)
    assert path[2]["model_used"] == "mythomax" and path[2]["tokens_used"] == 7
    assert path[1]["created_at"].startswith("2025-04-01T21:06")
    assert path[3]["created_at"].startswith("2025-04-01T")
    siblings = client.get(f"{API}/{conversation['id']}/messages/{path[2]['id']}/siblings", headers=bearer(alice))
    assert [s["content"] for s in siblings.json()["items"]] == [
        "All full, sorry.",
        "One, above the kitchen.",
        "Only the stable.",
    ]


def test_sillytavern_round_trip_is_lossless(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    cid = upload(client, alice, juniper["id"], ST_CHAT.encode()).json()["id"]
    exported = client.get(f"{API}/{cid}/export?format=jsonl", headers=bearer(alice))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/jsonl")
    assert "attachment" in exported.headers["content-disposition"]
    lines = [json.loads(line) for line in exported.text.splitlines()]
    original = [json.loads(line) for line in ST_CHAT.splitlines()]
    assert lines[0]["chat_metadata"] == original[0]["chat_metadata"]
    assert len(lines) == len(original)
    for got, want in zip(lines[1:], original[1:], strict=True):
        assert got["mes"] == want["mes"] and got["is_user"] == want["is_user"] and got["is_system"] == want["is_system"]
        for key in ("force_avatar", "gen_started", "gen_finished"):
            assert got.get(key) == want.get(key), key
        if "swipes" in want and len(want["swipes"]) > 1:
            assert got["swipes"] == want["swipes"] and got["swipe_id"] == want["swipe_id"]
        for key, value in want.get("extra", {}).items():
            assert got["extra"][key] == value
    again = upload(client, alice, juniper["id"], exported.content).json()["id"]
    assert [(m["role"], m["content"], m["sibling_count"]) for m in messages(client, alice, again)] == [
        (m["role"], m["content"], m["sibling_count"]) for m in messages(client, alice, cid)
    ]


def test_bostonia_json_keeps_every_branch(client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel) -> None:
    cid = new_conversation(client, alice)["id"]
    model.enqueue(["one"], ["deeper"], ["two"])
    first = send(client, alice, cid, "Hi")["assistant_message"]
    send(client, alice, cid, "Go on")  # continues below "one"
    client.post(f"{API}/{cid}/messages/{first['id']}/regenerate", headers=bearer(alice))  # "two" beside "one"
    exported = client.get(f"{API}/{cid}/export?format=json", headers=bearer(alice)).json()
    assert exported["format"] == "bostonia.conversation" and len(exported["messages"]) == 6
    character = client.get(f"{API}/{cid}", headers=bearer(alice)).json()["character_id"]
    copy = upload(client, alice, character, json.dumps(exported).encode(), "chat.json").json()["id"]
    assert [m["content"] for m in messages(client, alice, copy)] == [m["content"] for m in messages(client, alice, cid)]
    # The hidden branch came along: swiping back to "one" shows its continuation.
    one = next(
        m
        for m in client.get(
            f"{API}/{copy}/messages/{messages(client, alice, copy)[-1]['id']}/siblings", headers=bearer(alice)
        ).json()["items"]
        if m["content"] == "one"
    )
    client.post(f"{API}/{copy}/messages/{one['id']}/select", headers=bearer(alice))
    assert [m["content"] for m in messages(client, alice, copy)][-3:] == ["one", "Go on", "deeper"]


def test_text_export(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    cid = upload(client, alice, juniper["id"], ST_CHAT.encode()).json()["id"]
    text = client.get(f"{API}/{cid}/export?format=txt", headers=bearer(alice)).text
    assert text.startswith("Juniper Ashdown: Well, look what the storm dragged in!\n\nAlice: Any rooms left?")
    assert "[Ren rests.]" not in text  # system lines are skipped, as SillyTavern does


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b'{"user_name": "x"}\n{not json}\n', "line 2"),
        (b'{"user_name": "x"}\n{"mes": 5, "is_user": true}\n', "`mes` must be a string"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b'{"user_name": "x", "character_name": "y"}\n', "no messages"),  # a header alone
        (b'{\n  "user_name": "x"\n}\n', "no messages"),  # ... pretty-printed
        (b'{"history": [["hi", "hello"]], "settings": {}}', "not a chat Bostonia reads"),  # some other program's
        (b'{"internal": [], "visible": []}', "not a chat Bostonia reads"),
        (b'{"name": "x", "messages": [{"text": "hi"}]}', "`msg` must be a string"),
        (b'{"name": "x", "messages": []}', "no messages"),
        (b'{"firstMessages": [], "messages": [{"type": "ai", "outputs": "hi"}]}', "an `ai` one `outputs`"),
        (b'{"firstMessages": [], "messages": [{"type": "human"}]}', "a `human` message needs a `text`"),
        (b'{"firstMessages": [], "messages": []}', "no messages"),
        (b"PK\x03\x04 not a zip at all", "corrupt Backyard AI archive"),
        (
            b'{"format": "bostonia.conversation", "conversation": {}, "messages": [{"id": "a", "parent_id": "zzz", '
            b'"role": "user", "content": "x", "created_at": "2025-01-01T00:00:00Z"}]}',
            "parent not listed",
        ),
        (
            b'{"format": "bostonia.conversation", "conversation": {}, "messages": [{"id": "a", "parent_id": null, '
            b'"role": "wizard", "content": "x"}]}',
            "unknown role",
        ),
    ],
)
def test_bad_chat_files_are_rejected_and_store_nothing(
    client: TestClient[Any], alice: dict[str, Any], content: bytes, fragment: str
) -> None:
    character = first_character(client)["id"]
    response = upload(client, alice, character, content)
    assert response.status_code == 422, response.text
    assert fragment in error_of(response)["message"]
    assert client.get(API, headers=bearer(alice)).json()["items"] == []


WEBUI_CHAT = {
    "internal": [
        ["<|BEGIN-VISIBLE-CHAT|>", "Well, look what the storm dragged in!"],
        ["Any rooms left?", "One, above the kitchen."],
        ["I'll take it & the <b>stew</b>.", "Coming right up."],
    ],
    "visible": [
        ["", "Well, look what the storm dragged in!"],
        ["Any rooms left?", "One, above the kitchen."],
        ["I&#x27;ll take it &amp; the &lt;b&gt;stew&lt;/b&gt;.", "Coming right up."],
    ],
    "metadata": {
        "assistant_0": {"timestamp": "Apr 01, 2025 21:05"},
        "user_1": {"timestamp": "Apr 01, 2025 21:06"},
        "assistant_1": {"timestamp": "Apr 01, 2025 21:06"},
        "user_2": {"timestamp": "Apr 01, 2025 21:09"},
    },
}


def test_a_text_generation_webui_history_imports_as_one_path(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """Its raw `internal` text (not the HTML of `visible`), the greeting without its marker, each message's
    own time or the one before it; pretty-printed, as the program writes it."""
    juniper = first_character(client, "Juniper Ashdown")
    response = upload(client, alice, juniper["id"], json.dumps(WEBUI_CHAT, indent=4).encode(), "chat.json")
    assert response.status_code == 201, response.text
    path = messages(client, alice, response.json()["id"])
    assert said(path) == [*STORM, ("user", "I'll take it & the <b>stew</b>."), ("assistant", "Coming right up.")]
    minutes = [m["created_at"][:16] for m in path]
    assert minutes == ["2025-04-01T21:05", *["2025-04-01T21:06"] * 2, *["2025-04-01T21:09"] * 2]
    assert response.json()["title"] == "Any rooms left?"


def test_an_agnai_chat_imports_with_who_said_what(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    chat = {
        "name": "Storm night",
        "messages": [
            {"msg": "Well, look what the storm dragged in!", "characterId": "c1", "createdAt": "2025-04-01T21:05:00Z"},
            {"msg": "Any rooms left?", "userId": "u1", "createdAt": "2025-04-01T21:06:00Z"},
            {"msg": "One, above the kitchen.", "characterId": "c1", "createdAt": "2025-04-01T21:06:30Z"},
        ],
    }
    response = upload(client, alice, juniper["id"], json.dumps(chat).encode(), "chat.json")
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Storm night"
    path = messages(client, alice, response.json()["id"])
    assert [m["role"] for m in path] == ["assistant", "user", "assistant"]
    assert path[2]["content"] == "One, above the kitchen." and path[2]["created_at"].startswith("2025-04-01T21:06:30")


def test_a_kobold_lite_story_imports_turn_by_turn(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """Its texts run together; a turn begins at a placeholder, and a "continue" text goes on with the turn."""
    juniper = first_character(client, "Juniper Ashdown")
    save = {
        "gamestarted": True,
        "prompt": "{{[OUTPUT]}}Well, look what the storm dragged in!",
        "memory": "",
        "actions": ["\n{{[INPUT]}}\nAny rooms left?\n{{[OUTPUT]}}\nOne, above", " the kitchen.", "{{[INPUT]}}Thanks."],
        "savedsettings": {"chatname": "Ren", "chatopponent": "Juniper||$||Cook"},
    }
    response = upload(client, alice, juniper["id"], json.dumps(save).encode(), "story.json")
    assert response.status_code == 201, response.text
    path = messages(client, alice, response.json()["id"])
    assert said(path) == [*STORM, ("user", "Thanks.")]


def test_an_older_kobold_lite_chat_is_read_by_its_speakers_names(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    save = {
        "prompt": "",
        "actions": ["\nJuniper: Well, look what the storm dragged in!", "\nRen: Any rooms left?\nJuniper: One."],
        "savedsettings": {"chatname": "Ren", "chatopponent": "Juniper"},
    }
    path = messages(client, alice, upload(client, alice, juniper["id"], json.dumps(save).encode()).json()["id"])
    assert said(path) == [*STORM[:2], ("assistant", "One.")]


def test_a_risu_chat_imports_with_its_times(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper = first_character(client, "Juniper Ashdown")
    chat = {
        "type": "risuChat",
        "ver": 1,
        "data": {
            "name": "Storm night",
            "message": [
                {"role": "char", "data": "Well, look what the storm dragged in!", "time": 1743541500000},
                {"role": "user", "data": "Any rooms left?", "time": 1743541560000, "chatId": "x1"},
            ],
        },
    }
    response = upload(client, alice, juniper["id"], json.dumps(chat).encode(), "chat.json")
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Storm night"
    path = messages(client, alice, response.json()["id"])
    assert said(path) == STORM[:2]
    assert path[1]["created_at"].startswith("2025-04-01T21:06")


def test_cai_tools_histories_are_branches_from_the_shared_greeting(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """Character.AI's chats with one character (CAI Tools' export) become one conversation: the longest on
    the active path, each other one a swipe away where it differs."""
    juniper = first_character(client, "Juniper Ashdown")
    greeting = {"src": {"is_human": False, "name": "Juniper"}, "text": "Well, look what the storm dragged in!"}

    def said(text: str, human: bool) -> dict[str, Any]:
        return {"src": {"is_human": human, "name": "Ren" if human else "Juniper"}, "text": text}

    export = {
        "character": {"name": "Juniper"},
        "histories": {
            "histories": [
                {"msgs": [greeting, said("Hi!", True)]},
                {"msgs": [greeting, said("Any rooms left?", True), said("One, above the kitchen.", False)]},
            ]
        },
    }
    response = upload(client, alice, juniper["id"], json.dumps(export).encode(), "cai.json")
    assert response.status_code == 201, response.text
    conversation = response.json()["id"]
    path = messages(client, alice, conversation)
    assert [m["content"] for m in path] == [
        "Well, look what the storm dragged in!",
        "Any rooms left?",
        "One, above the kitchen.",
    ]
    assert [m["role"] for m in path] == ["assistant", "user", "assistant"]
    assert path[0]["sibling_count"] == 1 and path[1]["sibling_count"] == 2
    siblings = client.get(f"{API}/{conversation}/messages/{path[1]['id']}/siblings", headers=bearer(alice))
    assert sorted(s["content"] for s in siblings.json()["items"]) == ["Any rooms left?", "Hi!"]


def backyard_archive(scenarios: list[Any]) -> bytes:
    """A Backyard AI archive (BYAF v1): its manifest, a character, the scenarios."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        names = [f"scenarios/s{n}.json" for n in range(len(scenarios))]
        manifest = {"schemaVersion": 1, "characters": ["characters/c1/character.json"], "scenarios": names}
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("characters/c1/character.json", json.dumps({"id": "c1", "name": "Juniper", "persona": ""}))
        for name, scenario in zip(names, scenarios, strict=True):
            archive.writestr(name, scenario if isinstance(scenario, bytes) else json.dumps(scenario))
    return buffer.getvalue()


def test_a_backyard_archive_imports_its_scenarios_chats_with_every_output_a_swipe(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """The archive a character came in holds its chats too: each scenario a branch from its greeting (with
    the conversation's names for Backyard's `{user}`), the output last shown on the path, the others swipes."""
    juniper = first_character(client, "Juniper Ashdown")
    inn = {
        "schemaVersion": 1,
        "title": "Storm at the inn",
        "narrative": "A storm.",
        "firstMessages": [{"characterID": "c1", "text": "Well, look what the storm dragged in, {user}!"}],
        "messages": [
            {"type": "human", "text": "Any rooms left?", "createdAt": "2025-04-01T21:06:00Z"},
            {
                "type": "ai",
                "outputs": [
                    {
                        "text": "One, above the kitchen.",
                        "createdAt": "2025-04-01T21:06:20Z",
                        "activeTimestamp": "2025-04-01T21:06:40Z",
                    },
                    {
                        "text": "All full, sorry.",
                        "createdAt": "2025-04-01T21:06:10Z",
                        "activeTimestamp": "2025-04-01T21:06:12Z",
                    },
                ],
            },
        ],
    }
    quiet = {"schemaVersion": 1, "firstMessages": [{"characterID": "c1", "text": "The inn is quiet."}], "messages": []}
    response = upload(client, alice, juniper["id"], backyard_archive([inn, quiet]), "juniper.byaf")
    assert response.status_code == 201, response.text
    conversation = response.json()
    assert conversation["title"] == "Storm at the inn"
    path = messages(client, alice, conversation["id"])
    assert said(path) == [
        ("assistant", "Well, look what the storm dragged in, Alice!"),
        ("user", "Any rooms left?"),
        ("assistant", "One, above the kitchen."),
    ]
    assert path[1]["created_at"].startswith("2025-04-01T21:06:00")
    assert [m["sibling_count"] for m in path] == [2, 1, 2]
    for message, other in [(path[0], "The inn is quiet."), (path[2], "All full, sorry.")]:
        siblings = client.get(f"{API}/{conversation['id']}/messages/{message['id']}/siblings", headers=bearer(alice))
        assert other in [s["content"] for s in siblings.json()["items"]]
    bare = upload(client, alice, juniper["id"], json.dumps(inn).encode(), "scenario.json")  # one scenario's file
    assert bare.status_code == 201, bare.text
    assert said(messages(client, alice, bare.json()["id"])) == said(path)


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (backyard_archive([b"{nope"]), "not valid JSON"),
        (backyard_archive([{"messages": [{"type": "ai", "outputs": [{"text": 3}]}]}]), "`outputs` with texts"),
        (backyard_archive([]), "no messages"),
    ],
)
def test_a_bad_backyard_archive_is_refused_and_stores_nothing(
    client: TestClient[Any], alice: dict[str, Any], archive: bytes, fragment: str
) -> None:
    response = upload(client, alice, first_character(client)["id"], archive, "bad.byaf")
    assert response.status_code == 422, response.text
    assert fragment in error_of(response)["message"]
    assert client.get(API, headers=bearer(alice)).json()["items"] == []


def test_a_chub_chat_imports_its_message_objects(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """Chub writes SillyTavern's lines with each text and swipe an object holding `message`."""
    juniper = first_character(client, "Juniper Ashdown")
    lines = [
        {"user_name": "Ren", "character_name": "Juniper"},
        {"name": "Juniper", "is_user": False, "mes": {"message": "Well, look what the storm dragged in!"}},
        {"name": "Ren", "is_user": True, "mes": {"message": "Any rooms left?", "id": 7}},
        {
            "name": "Juniper",
            "is_user": False,
            "mes": {"message": "One."},
            "swipes": [{"message": "None."}, {"message": "One."}],
            "swipe_id": 1,
        },
    ]
    response = upload(client, alice, juniper["id"], "\n".join(json.dumps(x) for x in lines).encode())
    assert response.status_code == 201, response.text
    path = messages(client, alice, response.json()["id"])
    assert [m["content"] for m in path] == ["Well, look what the storm dragged in!", "Any rooms left?", "One."]
    assert (path[2]["sibling_count"], path[2]["sibling_index"]) == (2, 1)


def test_sillytavern_hidden_lines_stay_out_of_the_prompt_and_its_narrator_in(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """`is_system` is what SillyTavern keeps from the model (a message the user hid keeps its speaker); its
    narrator's lines (`extra.type`) are read by it. Both come back out as they went in."""
    juniper = first_character(client, "Juniper Ashdown")
    lines = [
        {"user_name": "Ren", "character_name": "Juniper Ashdown", "create_date": "2025-04-01@21h05m00s"},
        {"name": "Juniper Ashdown", "is_user": False, "is_system": False, "mes": "Welcome in."},
        {"name": "Ren", "is_user": True, "is_system": True, "mes": "A line Ren hid."},
        {"name": "Juniper Ashdown", "is_user": False, "is_system": True, "mes": "A reply Ren hid."},
        {
            "name": "System",
            "is_user": False,
            "is_system": False,
            "mes": "Thunder rolls.",
            "extra": {"type": "narrator"},
        },
        {"name": "Ren", "is_user": True, "is_system": False, "mes": "Any rooms left?"},
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    conversation = upload(client, alice, juniper["id"], content).json()["id"]
    path = messages(client, alice, conversation)
    assert [(m["role"], m["ooc"]) for m in path] == [
        ("assistant", False),
        ("user", True),
        ("assistant", True),
        ("system", False),
        ("user", False),
    ]
    view = client.get(f"{API}/{conversation}/prompt", headers=bearer(alice)).json()
    prompt = "\n".join(section["content"] for section in view["sections"])
    assert "Thunder rolls." in prompt and "Any rooms left?" in prompt
    assert "hid." not in prompt
    exported = client.get(f"{API}/{conversation}/export?format=jsonl", headers=bearer(alice)).text.splitlines()
    back = [json.loads(line) for line in exported[1:]]
    assert [(b["is_user"], b["is_system"]) for b in back] == [
        (line["is_user"], line["is_system"]) for line in lines[1:]
    ]
    assert [b["name"] for b in back if not b["is_user"]] == ["Juniper Ashdown", "Juniper Ashdown", "System"]
    assert back[3]["extra"]["type"] == "narrator"


def test_a_reasoning_models_thinking_stays_in_the_message_and_out_of_the_prompt(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """A reply that kept its `<think>` block inline shows it (the message is unchanged), but the model reads
    only what the character said; a user's message is read as written."""
    juniper = first_character(client, "Juniper Ashdown")
    lines = [
        {"user_name": "Ren", "character_name": "Juniper Ashdown"},
        {"name": "Ren", "is_user": True, "mes": "Any rooms left? <think>as a joke</think>"},
        {
            "name": "Juniper Ashdown",
            "is_user": False,
            "mes": "<think>\nRen looks tired. Offer the room above the kitchen.\n</think>\n\nOne, above the kitchen.",
        },
        {"name": "Ren", "is_user": True, "mes": "I'll take it."},
    ]
    conversation = upload(client, alice, juniper["id"], "\n".join(json.dumps(x) for x in lines).encode()).json()["id"]
    assert messages(client, alice, conversation)[1]["content"].startswith("<think>")
    view = client.get(f"{API}/{conversation}/prompt", headers=bearer(alice)).json()
    history = [s["content"] for s in view["sections"] if s["name"] == "history"]
    assert history == ["Any rooms left? <think>as a joke</think>", "One, above the kitchen.", "I'll take it."]


def test_import_needs_a_visible_character_and_a_file(client: TestClient[Any], alice: dict[str, Any]) -> None:
    missing = upload(client, alice, "no-such-character", ST_CHAT.encode())
    assert missing.status_code == 404
    no_file = client.post(f"{API}/import", data={"character_id": first_character(client)["id"]}, headers=bearer(alice))
    assert no_file.status_code == 400
    assert client.get(API, headers=bearer(alice)).json()["items"] == []


def test_export_format_is_checked(client: TestClient[Any], alice: dict[str, Any]) -> None:
    cid = new_conversation(client, alice)["id"]
    response = client.get(f"{API}/{cid}/export?format=docx", headers=bearer(alice))
    assert response.status_code == 422 and error_of(response)["details"] == {"field": "format"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("April 1, 2025 9:05pm", "2025-04-01T21:05:00.000Z"),
        ("2025-04-01@21h05m09s", "2025-04-01T21:05:09.000Z"),
        ("2023-5-12 @17h 49m 12s 123ms", "2023-05-12T17:49:12.123Z"),  # older versions' create_date
        ("2025-04-01T21:05:09.123Z", "2025-04-01T21:05:09.123Z"),
        (1743541509000, "2025-04-01T21:05:09.000Z"),
        ("yesterday-ish", None),
        (None, None),
    ],
)
def test_sillytavern_dates_in_every_style(value: Any, expected: str | None) -> None:
    assert parse_date(value) == expected


def test_import_from_the_chats_page(client: TestClient[Any], alice: dict[str, Any]) -> None:
    from tests.helpers import csrf_token, post_form

    post_form(client, "/login", {"email": "alice@example.com", "password": "correct horse battery"})
    juniper = first_character(client, "Juniper Ashdown")
    page = client.get("/chats", headers={"accept": "text/html"}).text
    assert 'action="/chats/import"' in page and juniper["name"] in page
    response = client.post(
        "/chats/import",
        data={"character_id": juniper["id"], "_csrf_token": csrf_token(client)},
        files={"file": ("chat.jsonl", ST_CHAT.encode(), "application/jsonl")},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/chats/")
    chat = client.get(response.headers["location"], headers={"accept": "text/html"}).text
    assert "One, above the kitchen." in chat and "2/3" in chat
