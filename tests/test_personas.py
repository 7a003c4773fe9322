from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.fakes import ScriptedModel
from tests.helpers import API, bearer, error_of, first_character, messages, post_form, send

PERSONAS = "/api/v1/personas"


def test_create_list_update_delete(client: TestClient[Any], alice: dict[str, Any]) -> None:
    created = client.post(PERSONAS, json={"name": "Ren", "description": "A wandering bard."}, headers=bearer(alice))
    assert created.status_code == 201
    persona = created.json()
    assert persona["name"] == "Ren" and not persona["is_default"]
    second = client.post(PERSONAS, json={"name": "Kit", "is_default": True}, headers=bearer(alice)).json()
    client.patch(f"{PERSONAS}/{persona['id']}", json={"is_default": True}, headers=bearer(alice))
    listed = client.get(PERSONAS, headers=bearer(alice)).json()["items"]
    assert [(p["name"], p["is_default"]) for p in listed] == [("Ren", True), ("Kit", False)]  # one default only
    assert client.delete(f"{PERSONAS}/{second['id']}", headers=bearer(alice)).status_code == 204
    assert [p["name"] for p in client.get(PERSONAS, headers=bearer(alice)).json()["items"]] == ["Ren"]


def test_bad_personas_are_rejected(client: TestClient[Any], alice: dict[str, Any]) -> None:
    for body in ({"name": ""}, {"name": "x" * 65}, {"name": "ok", "description": 5}, {"nom": "x"}):
        assert client.post(PERSONAS, json=body, headers=bearer(alice)).status_code == 400, body
    blank = client.post(PERSONAS, json={"name": "   "}, headers=bearer(alice))
    assert blank.status_code == 422 and error_of(blank)["details"] == {"field": "name"}
    assert client.get(PERSONAS, headers=bearer(alice)).json()["items"] == []


def test_personas_are_private(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    persona = client.post(PERSONAS, json={"name": "Ren"}, headers=bearer(alice)).json()
    for method, body in (("GET", None), ("PATCH", {"name": "Stolen"}), ("DELETE", None)):
        assert client.request(method, f"{PERSONAS}/{persona['id']}", json=body, headers=bearer(bob)).status_code == 404
    assert client.get(PERSONAS, headers=bearer(bob)).json()["items"] == []
    character = first_character(client)["id"]
    borrowed = client.post(API, json={"character_id": character, "persona_id": persona["id"]}, headers=bearer(bob))
    assert borrowed.status_code == 404
    bob_cid = client.post(API, json={"character_id": character}, headers=bearer(bob)).json()["id"]
    assert client.patch(f"{API}/{bob_cid}", json={"persona_id": persona["id"]}, headers=bearer(bob)).status_code == 404


def test_the_chat_persona_feeds_user_and_the_prompt(
    client: TestClient[Any], alice: dict[str, Any], model: ScriptedModel
) -> None:
    ren = client.post(
        PERSONAS,
        json={"name": "Ren", "description": "{{user}} is a bard who owes {{char}} money."},
        headers=bearer(alice),
    ).json()
    juniper = first_character(client, "Juniper Ashdown")
    cid = client.post(API, json={"character_id": juniper["id"], "persona_id": ren["id"]}, headers=bearer(alice)).json()
    assert cid["persona_id"] == ren["id"]
    send(client, alice, cid["id"], "Evening!")
    system = model.prompts[-1][0].content
    assert "About Ren: Ren is a bard who owes Juniper Ashdown money." in system
    assert "Ren" in system and "Alice" not in system
    assert "\nRen:" in model.params[-1].stop
    # Back to the default: the account's own name.
    assert (
        client.patch(f"{API}/{cid['id']}", json={"persona_id": ""}, headers=bearer(alice)).json()["persona_id"] is None
    )
    send(client, alice, cid["id"], "Again")
    assert "About Ren" not in model.prompts[-1][0].content and "\nAlice:" in model.params[-1].stop


def test_default_persona_names_new_greetings(client: TestClient[Any], alice: dict[str, Any]) -> None:
    client.post(PERSONAS, json={"name": "Captain Obvious", "is_default": True}, headers=bearer(alice))
    mira = first_character(client, "Captain Mira Vance")
    cid = client.post(API, json={"character_id": mira["id"]}, headers=bearer(alice)).json()["id"]
    greeting = messages(client, alice, cid)[0]["content"]
    assert "{{user}}" not in greeting


def test_persona_page_creates_and_sets_default(client: TestClient[Any], alice: dict[str, Any]) -> None:
    post_form(client, "/login", {"email": "alice@example.com", "password": "correct horse battery"})
    created = post_form(
        client, "/personas", {"name": "Ren", "description": "Bard", "is_default": "true"}, follow_redirects=False
    )
    assert created.status_code == 303
    page = client.get("/personas", headers={"accept": "text/html"}).text
    assert "Ren" in page and "default" in page
    blank = post_form(client, "/personas", {"name": " "})
    assert blank.status_code == 422 and "needs a name" in blank.text
