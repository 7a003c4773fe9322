"""The chat page's event stream: HTML fragments for every change, from any tab or client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx

from tests.fakes import ScriptedModel
from tests.helpers import PASSWORD, bearer, csrf_token, first_character, post_form, register


def htmx(client: httpx.Client) -> dict[str, str]:
    """What HTMX sends with a request from a page: its marker and the CSRF token."""
    return {"hx-request": "true", "x-csrftoken": csrf_token(client)}


def sign_in(live: httpx.Client) -> dict[str, Any]:
    account = register(live, "page@example.com", name="Paige")
    post_form(live, "/login", {"email": "page@example.com", "password": PASSWORD})
    return account


def fragments(response: httpx.Response) -> Iterator[str]:
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            yield "\n".join(data)
            data = []


def test_the_event_stream_renders_a_whole_exchange(live: httpx.Client, model: ScriptedModel) -> None:
    account = sign_in(live)
    character = first_character(live)
    cid = live.post("/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(account)).json()[
        "id"
    ]
    model.enqueue(["A <b>bold</b>", " reply"])
    seen: list[str] = []
    connected = threading.Event()

    def listen() -> None:
        with live.stream("GET", f"/chats/{cid}/events?tab=t1") as response:
            for fragment in fragments(response):
                seen.append(fragment)
                connected.set()
                if 'id="msg-' in fragment and 'hx-swap-oob="true"' in fragment and "bold" in fragment:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    assert post_form(live, f"/chats/{cid}/messages", {"content": "Hi <there>"}, htmx=True).status_code == 204
    listener.join(20)
    assert not listener.is_alive()
    assert seen[0].startswith('<div id="messages" hx-swap-oob="innerHTML">')  # the catch-up render
    assert any("beforeend:#messages" in f and "Hi &lt;there&gt;" in f for f in seen)  # the user's bubble, escaped
    assert any('class="msg assistant streaming"' in f for f in seen)
    chunks = [f for f in seen if f.startswith('<span hx-swap-oob="beforeend:#content-')]
    assert chunks and "A &lt;b&gt;bold&lt;/b&gt;" in chunks[0]  # model text is escaped too
    assert "A &lt;b&gt;bold&lt;/b&gt; reply" in seen[-1] and "msg assistant streaming" not in seen[-1]


def test_page_actions_answer_204_and_check_input(live: httpx.Client, model: ScriptedModel) -> None:
    account = sign_in(live)
    character = first_character(live)
    cid = live.post("/api/v1/conversations", json={"character_id": character["id"]}, headers=bearer(account)).json()[
        "id"
    ]
    exchange = live.post(
        f"/api/v1/conversations/{cid}/messages", json={"content": "Hi"}, headers=bearer(account)
    ).json()
    reply = exchange["assistant_message"]["id"]
    edit = live.patch(f"/chats/{cid}/messages/{reply}", data={"content": "Edited."}, headers=htmx(live))
    assert edit.status_code == 204
    settings = live.patch(
        f"/chats/{cid}/settings",
        data={
            "temperature": "0.4",
            "top_p": "",
            "top_k": "",
            "min_p": "",
            "repeat_penalty": "",
            "max_tokens": "50",
            "stop": "END|###",
        },
        headers=htmx(live),
    )
    assert settings.status_code == 204
    conversation = live.get(f"/api/v1/conversations/{cid}", headers=bearer(account)).json()
    assert conversation["settings"] == {"temperature": 0.4, "max_tokens": 50, "stop": ["END", "###"]}
    bad = live.patch(f"/chats/{cid}/settings", data={"temperature": "hot"}, headers=htmx(live))
    assert bad.status_code == 422 and bad.json()["error"]["details"] == {"field": "temperature"}
    too_high = live.patch(f"/chats/{cid}/settings", data={"temperature": "7"}, headers=htmx(live))
    assert too_high.status_code == 422
    prompt = live.get(f"/chats/{cid}/prompt")
    assert prompt.status_code == 200 and "section-system" in prompt.text and "Edited." in prompt.text
    branch = live.post(f"/chats/{cid}/messages/{reply}/branch", headers=htmx(live))
    assert branch.status_code == 204 and branch.headers["hx-redirect"].startswith("/chats/")
    search = live.get("/chats/search?q=Edit")
    assert "Edited" in search.text
    listing = live.get("/chats")
    assert listing.text.count('data-conversation-id="') == 2


def test_a_replys_thinking_is_folded_away_above_what_it_says() -> None:
    """A reasoning model's closed `<think>` block shows as a collapsed "Thoughts", escaped like the rest; an
    unclosed one (still being written) and a user's own angle brackets stay plain text."""
    from bostonia.ui.markdown import render_markdown

    html = str(render_markdown("<think>\nGreet them *warmly*. <script>x</script>\n</think>\n\nHello! *smiles*"))
    assert html.startswith('<details class="thinking"><summary>Thoughts</summary><p>Greet them <em class="action">')
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert html.endswith('</details><p>Hello! <em class="action">smiles</em></p>')
    assert str(render_markdown("<think>still thinking")) == "<p>&lt;think&gt;still thinking</p>"
