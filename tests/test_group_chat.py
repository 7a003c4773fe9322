"""Group chats over the real app (HTTP, scripted model): creating one, the cast and its settings, who speaks,
what the model is asked, swipes/regenerate/continue/branch/export/import, lore from every member, auto-mode."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.fakes import ScriptedModel
from tests.helpers import SSE, bearer, error_of, first_character, messages, parse_sse

API = "/api/v1/conversations"
JUNIPER, ALDER, MIRA = "Juniper Ashdown", "Professor Alder Quill", "Captain Mira Vance"


def ids(client: TestClient[Any], *names: str) -> list[str]:
    return [first_character(client, name)["id"] for name in names]


def group(client: TestClient[Any], account: dict[str, Any], *names: str, **settings: Any) -> dict[str, Any]:
    response = client.post(API, json={"character_ids": ids(client, *names), **settings}, headers=bearer(account))
    assert response.status_code == 201, response.text
    return response.json()


def send(client: TestClient[Any], account: dict[str, Any], cid: str, content: str, **extra: Any) -> Any:
    return client.post(f"{API}/{cid}/messages", json={"content": content, **extra}, headers=bearer(account))


def test_a_group_chat_has_its_cast_and_each_member_greets(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper, alder = ids(client, JUNIPER, ALDER)
    chat = group(client, alice, JUNIPER, ALDER, strategy="list", card_mode="join")
    assert chat["is_group"] and chat["strategy"] == "list" and chat["card_mode"] == "join"
    assert chat["title"] == f"{JUNIPER} and {ALDER}"
    assert [(m["character_id"], m["muted"], m["talkativeness"]) for m in chat["members"]] == [
        (juniper, False, 0.8),  # the cards' extensions.talkativeness
        (alder, False, 0.7),
    ]
    path = messages(client, alice, chat["id"])
    assert [m["character_id"] for m in path] == [juniper, alder] and path[1]["parent_id"] == path[0]["id"]
    listed = client.get(API, headers=bearer(alice)).json()["items"]
    assert listed[0]["members"] == chat["members"]
    # One character in `character_ids` is an ordinary chat; settings need a group.
    solo = client.post(API, json={"character_ids": [juniper]}, headers=bearer(alice)).json()
    assert not solo["is_group"] and [m["character_id"] for m in solo["members"]] == [juniper]
    refused = client.post(API, json={"character_ids": [juniper], "strategy": "list"}, headers=bearer(alice))
    assert refused.status_code == 422 and error_of(refused)["code"] == "not_a_group"
    both = client.post(API, json={"character_id": juniper, "character_ids": [alder]}, headers=bearer(alice))
    assert both.status_code == 422
    missing = client.post(API, json={"character_ids": [juniper, "nope"]}, headers=bearer(alice))
    assert missing.status_code == 404
    assert (
        client.post(
            API, json={"character_ids": [juniper, alder], "strategy": "loud"}, headers=bearer(alice)
        ).status_code
        == 400
    )


def test_the_cast_changes_mid_chat_with_a_system_note(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper, alder, mira = ids(client, JUNIPER, ALDER, MIRA)
    cid = group(client, alice, JUNIPER, ALDER)["id"]
    cast = [
        {"character_id": alder, "muted": True},
        {"character_id": juniper, "talkativeness": 0.1},
        {"character_id": mira},
    ]
    changed = client.patch(
        f"{API}/{cid}", json={"members": cast, "auto_mode": {"enabled": False, "max_turns": 5}}, headers=bearer(alice)
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert [(m["character_id"], m["muted"], m["talkativeness"]) for m in body["members"]] == [
        (alder, True, 0.7),
        (juniper, False, 0.1),
        (mira, False, 0.6),
    ]
    assert body["auto_mode"]["max_turns"] == 5 and body["character_id"] == alder
    client.patch(
        f"{API}/{cid}", json={"members": [{"character_id": mira}, {"character_id": juniper}]}, headers=bearer(alice)
    )
    notes = [m["content"] for m in messages(client, alice, cid) if m["role"] == "system"]
    assert notes == [f"{MIRA} joined the chat.", f"{ALDER} left the chat."]
    twice = client.patch(f"{API}/{cid}", json={"members": [{"character_id": mira}] * 2}, headers=bearer(alice))
    assert twice.status_code == 422
    assert client.patch(f"{API}/{cid}", json={"members": []}, headers=bearer(alice)).status_code == 400


def test_natural_strategy_answers_with_the_character_named(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    juniper, alder = ids(client, JUNIPER, ALDER)
    cid = group(client, alice, JUNIPER, ALDER)["id"]
    for name, expected in (("Alder", alder), ("Juniper", juniper), ("professor", alder)):
        model.enqueue([f"{name} here."])
        reply = send(client, alice, cid, f"What do you think, {name}?").json()["assistant_message"]
        assert reply["character_id"] == expected and reply["content"] == f"{name} here."
    # Each speaker's prompt: its own card first, the others' lines named, the reply started as its own.
    last = model.prompts[-1]
    assert "Professor Alder Quill" in last[0].content and "Juniper Ashdown" not in last[0].content.split("\n\n")[1]
    assert last[-1].role == "assistant" and last[-1].content == f"{ALDER}:"
    assert any(m.content.startswith(f"{JUNIPER}: Juniper here.") for m in last)
    assert model.replies[-1].continue_last and model.replies[-1].session == f"{cid}:{alder}"
    assert model.replies[-2].session == f"{cid}:{juniper}"
    assert f"\n{JUNIPER}:" in model.params[-1].stop and "\nJuniper:" in model.params[-1].stop


def test_join_mode_prompts_every_speaker_on_one_session(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = group(client, alice, JUNIPER, ALDER, card_mode="join")["id"]
    send(client, alice, cid, "Juniper, hello")
    send(client, alice, cid, "Alder, hello")
    first, second = model.replies[-2:]
    assert first.session == second.session == cid
    assert first.messages[0] == second.messages[0]  # the merged cards: identical whoever speaks
    assert first.messages[-1].content == f"{JUNIPER}:" and second.messages[-1].content == f"{ALDER}:"


def test_sse_stream_events_carry_the_speaker(client: TestClient[Any], alice: dict[str, Any]) -> None:
    alder = ids(client, ALDER)[0]
    cid = group(client, alice, JUNIPER, ALDER)["id"]
    with client.stream(
        "POST", f"{API}/{cid}/messages", json={"content": "Alder?"}, headers={**bearer(alice), **SSE}
    ) as r:
        frames = list(parse_sse(r.iter_lines()))
    start = next(data for name, data in frames if name == "message:stream:start")
    assert start["character_id"] == alder and start["speaker_name"] == ALDER
    assert {data["character_id"] for name, data in frames if name == "message:stream:chunk"} == {alder}
    assert frames[-1][1]["message"]["character_id"] == alder


def test_trigger_manual_mode_and_slash_trigger(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    juniper, alder = ids(client, JUNIPER, ALDER)
    cid = group(client, alice, JUNIPER, ALDER, strategy="manual")["id"]
    quiet = send(client, alice, cid, "Anyone?")
    assert quiet.status_code == 201 and quiet.json()["assistant_message"] is None  # manual: nobody speaks by itself
    forced = client.post(f"{API}/{cid}/trigger", json={"character_id": alder}, headers=bearer(alice))
    assert forced.status_code == 201 and forced.json()["assistant_message"]["character_id"] == alder
    before = len(messages(client, alice, cid))
    slash = send(client, alice, cid, "/trigger juniper")
    assert slash.status_code == 201 and slash.json()["assistant_message"]["character_id"] == juniper
    assert len(messages(client, alice, cid)) == before + 1  # the command itself is not stored
    # Muted members still speak when asked; strangers to the cast do not.
    client.patch(
        f"{API}/{cid}",
        json={"members": [{"character_id": juniper, "muted": True}, {"character_id": alder}]},
        headers=bearer(alice),
    )
    forced = client.post(f"{API}/{cid}/trigger", json={"character_id": juniper}, headers=bearer(alice))
    assert forced.json()["assistant_message"]["character_id"] == juniper
    mira = ids(client, MIRA)[0]
    stranger = client.post(f"{API}/{cid}/trigger", json={"character_id": mira}, headers=bearer(alice))
    assert stranger.status_code == 404 and error_of(stranger)["code"] == "not_a_member"


def test_out_of_character_lines_are_shown_not_sent(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = group(client, alice, JUNIPER, ALDER)["id"]
    aside = send(client, alice, cid, "(( brb, coffee ))")
    assert aside.status_code == 201 and aside.json()["assistant_message"] is None
    assert aside.json()["user_message"]["ooc"] is True
    toggled = send(client, alice, cid, "a note to the room", ooc=True).json()["user_message"]
    assert toggled["ooc"] is True
    send(client, alice, cid, "Juniper, welcome back?")
    sent = " ".join(m.content for m in model.prompts[-1])
    assert "coffee" not in sent and "a note to the room" not in sent and "welcome back" in sent
    assert len(model.replies) == 1


def test_swipes_regenerate_continue_keep_the_speaker(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    alder = ids(client, ALDER)[0]
    cid = group(client, alice, JUNIPER, ALDER)["id"]
    reply = send(client, alice, cid, "Alder, a riddle?").json()["assistant_message"]
    model.enqueue(["Another", " riddle."])
    again = client.post(f"{API}/{cid}/messages/{reply['id']}/regenerate", headers=bearer(alice)).json()
    assert again["assistant_message"]["character_id"] == alder and again["assistant_message"]["sibling_count"] == 2
    assert model.replies[-1].session == f"{cid}:{alder}"
    model.enqueue([" And more."])
    more = client.post(f"{API}/{cid}/messages/{again['assistant_message']['id']}/continue", headers=bearer(alice))
    assert more.status_code == 200 and more.json()["assistant_message"]["content"] == "Another riddle. And more."
    assert model.prompts[-1][-1].content == f"{ALDER}: Another riddle."  # the model extends the named line
    swiped = client.post(f"{API}/{cid}/messages/{reply['id']}/select", headers=bearer(alice))
    assert swiped.status_code == 200 and messages(client, alice, cid)[-1]["id"] == reply["id"]


def test_branch_export_and_import_keep_the_speakers(client: TestClient[Any], alice: dict[str, Any]) -> None:
    juniper, alder = ids(client, JUNIPER, ALDER)
    cid = group(client, alice, JUNIPER, ALDER, name="The study")["id"]
    reply = send(client, alice, cid, "Alder?").json()["assistant_message"]
    branch = client.post(f"{API}/{cid}/branch", json={"message_id": reply["id"]}, headers=bearer(alice)).json()
    assert branch["is_group"] and [m["character_id"] for m in branch["members"]] == [juniper, alder]
    assert [m["character_id"] for m in messages(client, alice, branch["id"])] == [juniper, alder, None, alder]

    jsonl = client.get(f"{API}/{cid}/export?format=jsonl", headers=bearer(alice)).text
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert lines[0]["character_name"] == "The study"
    assert [(line["name"], line["is_user"]) for line in lines[1:]] == [
        (JUNIPER, False),
        (ALDER, False),
        ("Alice", True),
        (ALDER, False),
    ]
    text = client.get(f"{API}/{cid}/export?format=txt", headers=bearer(alice)).text
    assert f"{JUNIPER}: " in text and f"{ALDER}: " in text

    files = {"file": ("group.jsonl", jsonl.encode(), "application/jsonl")}
    imported = client.post(
        f"{API}/import", data={"character_ids": f"{alder},{juniper}"}, files=files, headers=bearer(alice)
    )
    assert imported.status_code == 201, imported.text
    again = imported.json()
    assert again["is_group"] and [m["character_id"] for m in again["members"]] == [alder, juniper]
    assert [m["character_id"] for m in messages(client, alice, again["id"])] == [juniper, alder, None, alder]
    whole = client.get(f"{API}/{cid}/export?format=json", headers=bearer(alice)).json()
    assert whole["conversation"]["members"] == [juniper, alder]
    assert [m["character_id"] for m in whole["messages"]] == [juniper, alder, None, alder]


def test_lore_comes_from_every_members_book(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    book = {
        "name": "",
        "extensions": {},
        "entries": [
            {
                "keys": ["lighthouse"],
                "content": "The lighthouse is haunted.",
                "extensions": {},
                "enabled": True,
                "insertion_order": 1,
            }
        ],
    }
    keeper = client.post("/api/v1/characters", json={"name": "Keeper", "character_book": book}, headers=bearer(alice))
    assert keeper.status_code == 201, keeper.text
    juniper = ids(client, JUNIPER)[0]
    chat = client.post(API, json={"character_ids": [juniper, keeper.json()["id"]]}, headers=bearer(alice)).json()
    send(client, alice, chat["id"], "Juniper, tell me about the lighthouse")  # Juniper speaks; Keeper's book fires
    assert "The lighthouse is haunted." in " ".join(m.content for m in model.prompts[-1])
    applied = client.get(f"{API}/{chat['id']}/lorebooks", headers=bearer(alice)).json()["items"]
    assert [b["source"] for b in applied] == ["character"]


def test_auto_mode_lets_the_characters_go_on_up_to_max_turns(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    juniper, alder = ids(client, JUNIPER, ALDER)
    auto = {"enabled": True, "delay_seconds": 0, "max_turns": 2}
    cid = group(client, alice, JUNIPER, ALDER, auto_mode=auto)["id"]
    time.sleep(0.5)  # switching it on starts no one before anybody spoke (greetings count as replies here)
    send(client, alice, cid, "Juniper, start us off")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(model.replies) < 3:
        time.sleep(0.05)
    time.sleep(0.5)  # and then it stops
    after = [m for m in messages(client, alice, cid) if m["role"] != "system"][2:]
    speakers = [m["character_id"] for m in after]
    assert speakers == [None, juniper, alder, juniper], speakers  # a character never answers itself
    assert len(model.replies) == 3


@pytest.mark.parametrize("field", [{"strategy": "manual"}, {"members": [{"character_id": "x"}]}])
def test_group_settings_need_a_group(client: TestClient[Any], alice: dict[str, Any], field: dict[str, Any]) -> None:
    cid = client.post(API, json={"character_id": ids(client, JUNIPER)[0]}, headers=bearer(alice)).json()["id"]
    refused = client.patch(f"{API}/{cid}", json=field, headers=bearer(alice))
    assert refused.status_code == 422 and error_of(refused)["code"] == "not_a_group"
