"""The lorebook pages: the list with settings, the editor with every entry field, HTMX saves, refusals."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from tests.helpers import PASSWORD, bearer, csrf_token, post_form

API = "/api/v1/lorebooks"
ENTRY_FIELDS = (
    "keys",
    "secondary_keys",
    "content",
    "comment",
    "name",
    "enabled",
    "constant",
    "selective",
    "selective_logic",
    "insertion_order",
    "priority",
    "position",
    "depth",
    "role",
    "case_sensitive",
    "match_whole_words",
    "use_regex",
    "probability",
    "use_probability",
    "group",
    "group_override",
    "group_weight",
    "use_group_scoring",
    "scan_depth",
    "exclude_recursion",
    "prevent_recursion",
    "delay_until_recursion",
    "sticky",
    "cooldown",
    "delay",
    "vectorized",
    "ignore_budget",
    "automation_id",
    "display_index",
)


def sign_in(client: TestClient[Any], alice: dict[str, Any]) -> None:
    client.cookies.clear()
    response = post_form(client, "/login", {"email": alice["user"]["email"], "password": PASSWORD})
    assert response.status_code == 200 and "Sign out" in response.text


def make_book(client: TestClient[Any], alice: dict[str, Any]) -> tuple[str, str]:
    made = client.post(
        API,
        json={"name": "Realm", "entries": [{"keys": ["dragon", "/wyrm/i"], "content": "Dragons sleep.", "sticky": 2}]},
        headers=bearer(alice),
    ).json()
    return made["id"], made["entries"][0]["id"]


def test_editor_shows_every_field(client: TestClient[Any], alice: dict[str, Any]) -> None:
    book_id, entry_id = make_book(client, alice)
    sign_in(client, alice)
    listing = client.get("/lorebooks")
    assert listing.status_code == 200 and "Realm" in listing.text and 'name="budget_percent"' in listing.text
    page = client.get(f"/lorebooks/{book_id}")
    assert page.status_code == 200
    form = page.text[page.text.index(f'id="entry-{entry_id}"') :]
    names = set(re.findall(r'name="([a-z_]+)"', form))
    assert set(ENTRY_FIELDS) <= names, set(ENTRY_FIELDS) - names
    assert "dragon\n/wyrm/i" in form and 'name="sticky" type="number" min="0" value="2"' in form
    assert 'name="viewport"' in page.text  # laid out for phones too (base.html)


def test_htmx_save_and_refusal(client: TestClient[Any], alice: dict[str, Any]) -> None:
    book_id, entry_id = make_book(client, alice)
    sign_in(client, alice)
    headers = {"hx-request": "true", "x-csrftoken": csrf_token(client)}
    fields = {
        "keys": "river\nford",
        "secondary_keys": "bridge",
        "content": "The ford is shallow.",
        "comment": "Ford",
        "enabled": "on",
        "selective": "on",
        "selective_logic": "not_any",
        "position": "at_depth",
        "depth": "1",
        "role": "user",
        "insertion_order": "7",
        "probability": "60",
        "group": "water",
        "group_weight": "30",
        "cooldown": "4",
        "delay_until_recursion": "2",
        "case_sensitive": "true",
    }
    saved = client.post(f"/lorebooks/{book_id}/entries/{entry_id}", data=fields, headers=headers)
    assert saved.status_code == 200 and "Saved." in saved.text and f'id="entry-{entry_id}"' in saved.text
    entry = client.get(f"{API}/{book_id}/entries/{entry_id}", headers=bearer(alice)).json()
    ext = entry["extensions"]
    assert entry["keys"] == ["river", "ford"] and entry["selective_logic"] == 2 and entry["case_sensitive"] is True
    assert (ext["position"], ext["depth"], ext["role"], ext["group"], ext["group_weight"]) == (4, 1, 1, "water", 30)
    assert (ext["cooldown"], ext["delay_until_recursion"], entry["probability"], entry["constant"]) == (4, 2, 60, False)
    assert "sticky" not in ext  # the blank field cleared it
    refused = client.post(
        f"/lorebooks/{book_id}/entries/{entry_id}", data={**fields, "keys": "/(x+)+$/"}, headers=headers
    )
    assert refused.status_code == 200 and "invalid regex key" in refused.text and "Nothing was saved" in refused.text
    assert client.get(f"{API}/{book_id}/entries/{entry_id}", headers=bearer(alice)).json() == entry
    bad_number = client.post(
        f"/lorebooks/{book_id}/entries/{entry_id}", data={**fields, "depth": "deep"}, headers=headers
    )
    assert "depth must be a whole number" in bad_number.text
    added = client.post(f"/lorebooks/{book_id}/entries", headers=headers)
    assert added.status_code == 200 and "New entry" in added.text
    new_id = re.search(r'id="entry-([0-9a-f-]+)"', added.text).group(1)  # type: ignore[union-attr]
    gone = client.post(f"/lorebooks/{book_id}/entries/{new_id}/delete", headers=headers)
    assert gone.status_code == 200 and gone.text == ""
    assert len(client.get(f"{API}/{book_id}", headers=bearer(alice)).json()["entries"]) == 1


def test_book_settings_attachments_and_world_info_settings(client: TestClient[Any], alice: dict[str, Any]) -> None:
    book_id, _ = make_book(client, alice)
    sign_in(client, alice)
    assert (
        post_form(
            client, f"/lorebooks/{book_id}", {"name": "Renamed", "scan_depth": "6"}, follow_redirects=False
        ).status_code
        == 303
    )
    book = client.get(f"{API}/{book_id}", headers=bearer(alice)).json()
    assert (book["name"], book["scan_depth"], book["recursive_scanning"]) == ("Renamed", 6, False)
    assert (
        post_form(client, f"/lorebooks/{book_id}/attachments", {"scope": "global"}, follow_redirects=False).status_code
        == 303
    )
    assert "All my chats" in client.get(f"/lorebooks/{book_id}").text
    assert (
        post_form(
            client, f"/lorebooks/{book_id}/attachments/delete", {"scope": "global"}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get(f"{API}/{book_id}/attachments", headers=bearer(alice)).json()["items"] == []
    saved = post_form(
        client,
        "/lorebooks/settings",
        {"_settings_form": "1", "scan_depth": "4", "recursive": "on", "budget_percent": "30"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    settings = client.get(f"{API}/settings", headers=bearer(alice)).json()
    assert (
        settings["scan_depth"],
        settings["recursive"],
        settings["budget_percent"],
        settings["match_whole_words"],
    ) == (
        4,
        True,
        30,
        False,
    )
    refused = post_form(
        client, "/lorebooks/settings", {"_settings_form": "1", "budget_percent": "500"}, follow_redirects=False
    )
    assert refused.status_code == 422
    assert client.get(f"{API}/settings", headers=bearer(alice)).json() == settings
    created = post_form(client, "/lorebooks", {"name": "Second"}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"].startswith("/lorebooks/")


def test_chat_prompt_panel_says_why_each_entry_fired(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = client.get("/api/v1/characters").json()["items"][0]["id"]
    cid = client.post("/api/v1/conversations", json={"character_id": character}, headers=bearer(alice)).json()["id"]
    book_id, _ = make_book(client, alice)
    client.post(f"{API}/{book_id}/entries", json={"constant": True, "content": "Two moons."}, headers=bearer(alice))
    client.post(f"{API}/{book_id}/attachments", json={"scope": "conversation", "target_id": cid}, headers=bearer(alice))
    client.post(f"/api/v1/conversations/{cid}/messages", json={"content": "a wyrm!"}, headers=bearer(alice))
    sign_in(client, alice)
    panel = client.get(f"/chats/{cid}/prompt")
    assert panel.status_code == 200
    # The entry fired on its key when the message was sent, and stays in as sticky (2 messages) afterwards.
    assert "sticky: still active from an earlier turn (sticky 2)" in panel.text
    assert "constant (always on)" in panel.text and "Realm, chat lore" in panel.text
    fresh = client.get(f"/api/v1/conversations/{cid}/prompt", params={"content": "wyrm"}, headers=bearer(alice)).json()
    reasons = [d["why"] for s in fresh["sections"] for d in s.get("details", [])]
    assert reasons == ["key '/wyrm/i' in the latest message", "constant (always on)"]  # sticky has run out
