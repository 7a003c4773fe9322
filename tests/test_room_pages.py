"""Group chat and shared room pages (in process): creating a group from the chats page, the cast and settings
forms, invitations by link and email, what a member's page shows, the event stream's speaker fragments."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import TestClient

from bostonia.http.security import CSRF_FIELD
from tests.fakes import ScriptedModel
from tests.helpers import PASSWORD, bearer, csrf_token, first_character, post_form, register

JUNIPER, ALDER, MIRA = "Juniper Ashdown", "Professor Alder Quill", "Captain Mira Vance"


def sign_in(client: TestClient[Any], email: str) -> None:
    """Sign in on the client's cookie session, as a browser would (whoever was signed in before is not)."""
    client.cookies.clear()
    assert (
        post_form(client, "/login", {"email": email, "password": PASSWORD}, follow_redirects=False).status_code == 303
    )


def last_message(client: TestClient[Any], account: dict[str, Any], cid: str, role: str) -> dict[str, Any]:
    """The newest message of `role` once it is there (replies are generated in the background)."""
    deadline = time.monotonic() + 10
    while True:
        items = client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(account)).json()["items"]
        if items[-1]["role"] == role or time.monotonic() > deadline:
            return dict(items[-1])
        time.sleep(0.05)


def start_group(client: TestClient[Any], *names: str) -> str:
    ids = [first_character(client, name)["id"] for name in names]
    form = {
        "character_ids": ids,
        "name": "The study",
        CSRF_FIELD: csrf_token(client),
    }  # checkboxes: one field, many values
    response = client.post("/chats/group", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def test_a_group_is_made_and_run_from_its_page(client: TestClient[Any], model: ScriptedModel) -> None:
    owner = register(client, "olive@example.com", name="Olive")
    sign_in(client, "olive@example.com")
    cid = start_group(client, JUNIPER, ALDER)
    chat = client.get(f"/api/v1/conversations/{cid}", headers=bearer(owner)).json()
    assert chat["title"] == "The study" and [m["name"] for m in chat["members"]] == [JUNIPER, ALDER]
    page = client.get(f"/chats/{cid}").text
    assert 'id="group-members"' in page and "Make Professor Alder Quill talk now" in page
    assert "Save group settings" in page and "Create an invite link" in page
    juniper, alder = chat["members"][0]["character_id"], chat["members"][1]["character_id"]
    mira = first_character(client, MIRA)["id"]
    form = {"character_id": alder, "muted": "on", "talkativeness": "20"}
    assert post_form(client, f"/chats/{cid}/members", form, htmx=True).status_code == 204
    assert post_form(client, f"/chats/{cid}/members", {"add": mira}, htmx=True).status_code == 204
    down = {"character_id": juniper, "action": "down"}
    assert post_form(client, f"/chats/{cid}/members", down, htmx=True).status_code == 204
    members = client.get(f"/api/v1/conversations/{cid}", headers=bearer(owner)).json()["members"]
    assert [(m["character_id"], m["muted"], m["talkativeness"]) for m in members] == [
        (alder, True, 0.2),
        (juniper, False, 0.8),
        (mira, False, 0.6),
    ]
    for character in (alder, juniper):
        post_form(client, f"/chats/{cid}/members", {"character_id": character, "action": "remove"}, htmx=True)
    last = post_form(client, f"/chats/{cid}/members", {"character_id": mira, "action": "remove"}, htmx=True)
    assert last.status_code == 422  # a group keeps one character at least
    settings = {"strategy": "list", "card_mode": "join", "auto_enabled": "on", "auto_delay": "2", "auto_max_turns": "4"}
    assert post_form(client, f"/chats/{cid}/group", settings, htmx=True).status_code == 204
    saved = client.get(f"/api/v1/conversations/{cid}", headers=bearer(owner)).json()
    assert saved["strategy"] == "list" and saved["card_mode"] == "join" and not saved["include_muted"]
    assert saved["auto_mode"] == {"enabled": True, "delay_seconds": 2.0, "max_turns": 4}
    bad = post_form(client, f"/chats/{cid}/group", {**settings, "auto_delay": "-3"}, htmx=True)
    assert bad.status_code == 422
    assert client.get(f"/api/v1/conversations/{cid}", headers=bearer(owner)).json()["auto_mode"]["delay_seconds"] == 2
    model.enqueue(["Present."])
    assert post_form(client, f"/chats/{cid}/trigger", {"character_id": mira}, htmx=True).status_code == 204
    assert last_message(client, owner, cid, "assistant")["character_id"] == mira


def test_invitations_and_a_members_page(client: TestClient[Any], model: ScriptedModel) -> None:
    owner = register(client, "olive@example.com", name="Olive")
    guest = register(client, "gus@example.com", name="Gus")
    register(client, "carol@example.com", name="Carol")
    sign_in(client, "olive@example.com")
    cid = start_group(client, JUNIPER, ALDER)
    link = post_form(client, f"/chats/{cid}/invites", {}, htmx=True)
    assert link.status_code == 200 and "Anyone with this link can join" in link.text
    url = link.text.split('value="')[1].split('"')[0]
    assert url.startswith("http") and "/invites/" in url
    by_email = post_form(client, f"/chats/{cid}/invites", {"email": "gus@example.com"}, htmx=True)
    assert "Invitation sent to gus@example.com" in by_email.text
    assert post_form(client, f"/chats/{cid}/messages", {"content": "Alder?"}, htmx=True).status_code == 204
    last_message(client, owner, cid, "assistant")

    sign_in(client, "carol@example.com")  # someone else: the email invitation is not theirs
    assert "invites you to" not in client.get("/chats").text
    sign_in(client, "gus@example.com")
    chats = client.get("/chats").text
    assert "<strong>Olive</strong> invites you to “The study”" in chats
    token = url.rsplit("/", 1)[1]
    page = client.get(f"/invites/{token}")
    assert page.status_code == 200 and "Join “The study”?" in page.text
    joined = post_form(client, f"/invites/{token}/accept", {}, follow_redirects=False)
    assert joined.status_code == 303 and joined.headers["location"] == f"/chats/{cid}"
    page = client.get(f"/chats/{cid}").text
    assert "Olive" in page and "Alder?" in page  # the owner's message, by name
    assert "Save group settings" not in page and "Create an invite link" not in page and "Delete chat" not in page
    assert 'name="ooc"' in page and "Make Juniper Ashdown talk now" in page  # members take part
    persona = post_form(client, "/personas", {"name": "Captain Gus"})
    assert persona.status_code == 200
    persona_id = client.get("/api/v1/personas", headers=bearer(guest)).json()["items"][0]
    persona = {"id": persona_id["id"]}
    assert post_form(client, f"/chats/{cid}/persona", {"persona_id": persona["id"]}, htmx=True).status_code == 204
    people = client.get(f"/api/v1/conversations/{cid}/people", headers=bearer(owner)).json()["items"]
    assert [p["persona_name"] for p in people] == ["Olive", "Captain Gus"]
    assert post_form(client, f"/chats/{cid}/group", {"strategy": "list"}, htmx=True).status_code == 404
    assert post_form(client, f"/chats/{cid}/messages", {"content": "(( hi all ))"}, htmx=True).status_code == 204
    snapshot = client.get(f"/chats/{cid}/events?snapshot=true").text
    assert "(out of character)" in snapshot and "Captain Gus" in snapshot
    assert f'data-speaker="{first_character(client, ALDER)["id"]}"' in snapshot  # the reply's speaker
    left = post_form(client, f"/chats/{cid}/people/{guest['user']['id']}/remove", {}, htmx=True)
    assert left.status_code == 204 and left.headers["hx-redirect"] == "/chats"
    assert client.get(f"/chats/{cid}").status_code == 404
    declined = post_form(client, "/invites/" + by_email.text.split("/invites/")[1].split('"')[0] + "/decline", {})
    assert declined.status_code == 404  # a token is not an invitation's id: only the invitee declines, by id
