"""The message tree: alternate greetings, swipes, regenerate, continue, edit, delete, branch, paging."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.cards.model import parse_card
from tests.fakes import ScriptedModel
from tests.helpers import API, bearer, error_of, messages, new_conversation, send


def chat_with_turns(client: TestClient[Any], account: dict[str, Any], model: ScriptedModel, turns: int) -> str:
    cid = new_conversation(client, account)["id"]
    for n in range(turns):
        model.enqueue([f"reply {n}"])
        send(client, account, cid, f"message {n}")
    return str(cid)


@pytest.fixture
def card_with_alternates(client: TestClient[Any], services: Services, alice: dict[str, Any]) -> str:
    card = parse_card(
        {
            "spec": "chara_card_v2",
            "data": {
                "name": "Echo",
                "first_mes": "Hello {{user}}.",
                "alternate_greetings": ["Hi there, {{user}}!", "Oh. It's you."],
                "description": "A voice in a canyon.",
            },
        }
    )
    with client.portal() as portal:
        portal.call(
            lambda: services.characters.characters.create_from_card("echo-1", card, creator_id=alice["user"]["id"])
        )
    return "echo-1"


def test_alternate_greetings_are_swipes_of_the_first_message(
    client: TestClient[Any], alice: dict[str, Any], card_with_alternates: str
) -> None:
    cid = client.post(API, json={"character_id": card_with_alternates}, headers=bearer(alice)).json()["id"]
    first = messages(client, alice, cid)
    assert len(first) == 1 and first[0]["content"] == "Hello Alice."
    assert (first[0]["sibling_count"], first[0]["sibling_index"]) == (3, 0)
    siblings = client.get(f"{API}/{cid}/messages/{first[0]['id']}/siblings", headers=bearer(alice)).json()["items"]
    assert [s["content"] for s in siblings] == ["Hello Alice.", "Hi there, Alice!", "Oh. It's you."]
    moved = client.post(f"{API}/{cid}/messages/{first[0]['id']}/swipe?direction=right", headers=bearer(alice))
    assert moved.status_code == 200 and moved.json()["leaf_id"] == siblings[1]["id"]
    shown = messages(client, alice, cid)
    assert shown[0]["content"] == "Hi there, Alice!" and shown[0]["sibling_index"] == 1
    assert (
        client.post(f"{API}/{cid}/messages/{siblings[0]['id']}/swipe?direction=left", headers=bearer(alice)).status_code
        == 422
    )  # nothing left of the first


def test_regenerate_adds_a_swipe_and_shows_it(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    model.enqueue(["First answer."], ["Second answer."])
    first = send(client, alice, cid, "Hi")["assistant_message"]
    response = client.post(f"{API}/{cid}/messages/{first['id']}/regenerate", headers=bearer(alice))
    assert response.status_code == 201
    second = response.json()["assistant_message"]
    assert second["parent_id"] == first["parent_id"] and second["is_regeneration"]
    path = messages(client, alice, cid)
    assert path[-1]["id"] == second["id"] and (path[-1]["sibling_count"], path[-1]["sibling_index"]) == (2, 1)
    # The model saw the conversation up to the user's message, not the reply it replaces.
    assert model.prompts[-1][-1].content == "Hi" and "First answer." not in str(model.prompts[-1])
    # Swipe back: the first answer is shown again.
    client.post(f"{API}/{cid}/messages/{second['id']}/swipe?direction=left", headers=bearer(alice))
    assert messages(client, alice, cid)[-1]["content"] == "First answer."


def test_regenerate_from_an_earlier_point_starts_a_branch_in_place(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = chat_with_turns(client, alice, model, 3)
    path = messages(client, alice, cid)
    early_reply = path[2]  # reply 0
    model.enqueue(["a different reply 0"])
    client.post(f"{API}/{cid}/messages/{early_reply['id']}/regenerate", headers=bearer(alice))
    new_path = messages(client, alice, cid)
    assert [m["content"] for m in new_path] == [path[0]["content"], "message 0", "a different reply 0"]
    # The later turns still exist on the other swipe: selecting it brings the whole old branch back.
    client.post(f"{API}/{cid}/messages/{early_reply['id']}/select", headers=bearer(alice))
    assert [m["content"] for m in messages(client, alice, cid)][-1] == "reply 2"


def test_regenerating_a_user_message_answers_it_again(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    model.enqueue(["one"], ["two"])
    exchange = send(client, alice, cid, "Hi")
    again = client.post(f"{API}/{cid}/messages/{exchange['user_message']['id']}/regenerate", headers=bearer(alice))
    assert again.json()["assistant_message"]["content"] == "two"
    assert messages(client, alice, cid)[-1]["sibling_count"] == 2


def test_greetings_cannot_be_regenerated(client: TestClient[Any], alice: dict[str, Any]) -> None:
    cid = new_conversation(client, alice)["id"]
    greeting = messages(client, alice, cid)[0]
    response = client.post(f"{API}/{cid}/messages/{greeting['id']}/regenerate", headers=bearer(alice))
    assert response.status_code == 422 and error_of(response)["code"] == "cannot_regenerate_greeting"


def test_continue_extends_the_last_reply(client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel) -> None:
    cid = new_conversation(client, alice)["id"]
    model.enqueue(["The night was"], [" dark and", " full of stars."])
    reply = send(client, alice, cid, "Tell me")["assistant_message"]
    response = client.post(f"{API}/{cid}/messages/{reply['id']}/continue", headers=bearer(alice))
    assert response.status_code == 200
    extended = response.json()["assistant_message"]
    assert extended["id"] == reply["id"] and extended["content"] == "The night was dark and full of stars."
    request = model.replies[-1]
    assert request.continue_last and request.messages[-1].content == "The night was"
    assert len(messages(client, alice, cid)) == 3  # extended in place, no new message
    user_message = messages(client, alice, cid)[1]
    refused = client.post(f"{API}/{cid}/messages/{user_message['id']}/continue", headers=bearer(alice))
    assert refused.status_code == 409 and error_of(refused)["code"] == "cannot_continue"


def test_edit_a_message(client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel) -> None:
    cid = new_conversation(client, alice)["id"]
    exchange = send(client, alice, cid, "Helo")
    edited = client.patch(
        f"{API}/{cid}/messages/{exchange['user_message']['id']}", json={"content": "Hello"}, headers=bearer(alice)
    )
    assert edited.status_code == 200 and edited.json()["content"] == "Hello" and edited.json()["edited_at"]
    assert messages(client, alice, cid)[1]["content"] == "Hello"
    for bad in ({"content": ""}, {"content": "   "}, {"text": "x"}):
        response = client.patch(
            f"{API}/{cid}/messages/{exchange['user_message']['id']}", json=bad, headers=bearer(alice)
        )
        assert response.status_code in (400, 422)
    assert messages(client, alice, cid)[1]["content"] == "Hello"


def test_delete_removes_the_message_and_what_followed(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = chat_with_turns(client, alice, model, 3)
    path = messages(client, alice, cid)
    response = client.delete(f"{API}/{cid}/messages/{path[3]['id']}", headers=bearer(alice))  # "message 1"
    assert response.status_code == 200 and response.json()["leaf_id"] == path[2]["id"]
    assert [m["content"] for m in messages(client, alice, cid)] == [m["content"] for m in path[:3]]
    assert client.get(f"{API}/{cid}", headers=bearer(alice)).json()["message_count"] == 3


def test_deleting_a_swipe_falls_back_to_its_sibling(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    model.enqueue(["one"], ["two"])
    first = send(client, alice, cid, "Hi")["assistant_message"]
    second = client.post(f"{API}/{cid}/messages/{first['id']}/regenerate", headers=bearer(alice)).json()
    client.delete(f"{API}/{cid}/messages/{second['assistant_message']['id']}", headers=bearer(alice))
    path = messages(client, alice, cid)
    assert path[-1]["id"] == first["id"] and path[-1]["sibling_count"] == 1


def test_branch_copies_history_and_goes_its_own_way(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = chat_with_turns(client, alice, model, 3)
    path = messages(client, alice, cid)
    response = client.post(f"{API}/{cid}/branch", json={"message_id": path[3]["id"]}, headers=bearer(alice))
    assert response.status_code == 201
    branch = response.json()
    assert branch["branched_from_id"] == cid and branch["branched_from_message_id"] == path[3]["id"]
    copied = messages(client, alice, branch["id"])
    assert [m["content"] for m in copied] == [m["content"] for m in path[:4]]
    assert all(a["id"] != b["id"] for a, b in zip(copied, path, strict=False))
    model.enqueue(["only in the branch"])
    send(client, alice, branch["id"], "branch message")
    assert len(messages(client, alice, cid)) == len(path)  # the original is untouched
    family = client.get(f"{API}/{branch['id']}/branches", headers=bearer(alice)).json()["items"]
    assert [c["id"] for c in family] == [cid, branch["id"]]
    bad = client.post(f"{API}/{cid}/branch", json={"message_id": "nope"}, headers=bearer(alice))
    assert bad.status_code == 404


def test_paging_backwards_through_a_long_path(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = chat_with_turns(client, alice, model, 6)  # 13 messages
    everything = messages(client, alice, cid)
    page = client.get(f"{API}/{cid}/messages?limit=5", headers=bearer(alice)).json()
    assert [m["id"] for m in page["items"]] == [m["id"] for m in everything[-5:]] and page["has_more"]
    older = client.get(f"{API}/{cid}/messages?limit=5&before={page['items'][0]['id']}", headers=bearer(alice)).json()
    assert [m["id"] for m in older["items"]] == [m["id"] for m in everything[-10:-5]] and older["has_more"]
    oldest = client.get(f"{API}/{cid}/messages?limit=5&before={older['items'][0]['id']}", headers=bearer(alice)).json()
    assert [m["id"] for m in oldest["items"]] == [m["id"] for m in everything[:3]] and not oldest["has_more"]
    for query, status in (("limit=0", 422), ("limit=10001", 422), ("limit=abc", 400), ("before=nope", 404)):
        assert client.get(f"{API}/{cid}/messages?{query}", headers=bearer(alice)).status_code == status, query


def test_conversation_title_archive_and_settings(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    patched = client.patch(
        f"{API}/{cid}",
        json={
            "title": "  A  quiet   night ",
            "is_archived": True,
            "settings": {"temperature": 0.3, "max_tokens": 64, "stop": ["###"]},
        },
        headers=bearer(alice),
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["title"] == "A quiet night" and body["is_archived"]
    assert body["settings"] == {"temperature": 0.3, "max_tokens": 64, "stop": ["###"]}
    listed = client.get(f"{API}?archived=true", headers=bearer(alice)).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    assert client.get(f"{API}?archived=false", headers=bearer(alice)).json()["items"] == []
    send(client, alice, cid, "Hi")
    params = model.params[-1]
    assert params.temperature == 0.3 and params.max_tokens == 64 and "###" in params.stop
    for bad in (
        {"settings": {"temperature": 9}},
        {"settings": {"top_p": -1}},
        {"settings": {"bogus": 1}},
        {"title": "x" * 201},
        {"is_archived": "maybe"},
    ):
        response = client.patch(f"{API}/{cid}", json=bad, headers=bearer(alice))
        assert response.status_code == 400, (bad, response.text)


def test_character_sampler_settings_apply_under_the_conversation_overrides(
    client: TestClient[Any], services: Services, alice: dict[str, Any], model: ScriptedModel
) -> None:
    with client.portal() as portal:
        portal.call(
            lambda: services.characters.characters.create_from_card(
                "warm-1", parse_card({"name": "Warm", "first_mes": "hi"}), creator_id=alice["user"]["id"]
            )
        )
        portal.call(
            lambda: services.db.execute_write(
                "update characters set settings = ? where id = 'warm-1'", ('{"temperature": 1.4, "top_k": 12}',)
            )
        )
    cid = client.post(API, json={"character_id": "warm-1"}, headers=bearer(alice)).json()["id"]
    send(client, alice, cid, "one")
    assert (model.params[-1].temperature, model.params[-1].top_k) == (1.4, 12)
    client.patch(f"{API}/{cid}", json={"settings": {"temperature": 0.5}}, headers=bearer(alice))
    send(client, alice, cid, "two")
    assert (model.params[-1].temperature, model.params[-1].top_k) == (0.5, 12)


def test_search_own_messages_only(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    send(client, alice, cid, "The lighthouse keeper waved")
    other = new_conversation(client, bob)["id"]
    send(client, bob, other, "I also love a lighthouse")
    hits = client.get(f"{API}/search?q=lighthou", headers=bearer(alice)).json()["items"]
    assert [h["conversation_id"] for h in hits] == [cid]
    assert "[lighthouse]" in hits[0]["snippet"]
    assert client.get(f"{API}/search?q=%20", headers=bearer(alice)).status_code == 422
    assert client.get(f"{API}/search?q=%22%29%28*", headers=bearer(alice)).json()["items"] == []  # FTS syntax is inert


def test_prompt_inspection_lists_sections_with_tokens(client: TestClient[Any], alice: dict[str, Any]) -> None:
    cid = new_conversation(client, alice)["id"]
    response = client.get(f"{API}/{cid}/prompt", params={"content": "What is out there?"}, headers=bearer(alice))
    assert response.status_code == 200
    view = response.json()
    names = [s["name"] for s in view["sections"]]
    assert names[:2] == ["system", "card"] and "examples" in names and names[-1] == "history"
    assert view["sections"][-1]["content"] == "What is out there?" and view["sections"][-1]["role"] == "user"
    assert view["total_tokens"] == sum(s["tokens"] for s in view["sections"]) <= view["budget"]
    assert view["model"] == "scripted"
    assert len(messages(client, alice, cid)) == 1  # inspecting stores nothing


def test_other_users_cannot_touch_messages(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], model: ScriptedModel
) -> None:
    cid = new_conversation(client, alice)["id"]
    mid = send(client, alice, cid, "mine")["assistant_message"]["id"]
    for method, path, body in [
        ("GET", f"{API}/{cid}/messages/{mid}", None),
        ("PATCH", f"{API}/{cid}/messages/{mid}", {"content": "x"}),
        ("DELETE", f"{API}/{cid}/messages/{mid}", None),
        ("GET", f"{API}/{cid}/messages/{mid}/siblings", None),
        ("POST", f"{API}/{cid}/messages/{mid}/select", None),
        ("POST", f"{API}/{cid}/messages/{mid}/regenerate", None),
        ("POST", f"{API}/{cid}/messages/{mid}/continue", None),
        ("POST", f"{API}/{cid}/branch", {"message_id": mid}),
        ("GET", f"{API}/{cid}/branches", None),
        ("GET", f"{API}/{cid}/prompt", None),
        ("PATCH", f"{API}/{cid}", {"title": "x"}),
        ("GET", f"{API}/{cid}/export?format=json", None),
    ]:
        response = client.request(method, path, json=body, headers=bearer(bob))
        assert response.status_code == 404, (method, path, response.status_code)
    # A message id from another conversation is not reachable through one's own conversation either.
    own = new_conversation(client, bob)["id"]
    assert client.get(f"{API}/{own}/messages/{mid}", headers=bearer(bob)).status_code == 404
    assert messages(client, alice, cid)[-1]["id"] == mid
