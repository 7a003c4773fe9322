"""Discovery, character, builder and import pages through the app (the browser flow is in
e2e/test_characters_browser.py)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from litestar.testing import TestClient
from PIL import Image

from tests.characters_support import card_bytes
from tests.helpers import PASSWORD, bearer, csrf_token, post_form, register

HTML = {"accept": "text/html"}
GRID = {**HTML, "hx-request": "true", "hx-target": "results"}


@pytest.fixture
def web(client: TestClient[Any], bob: dict[str, Any]) -> dict[str, Any]:
    """A signed-in browser session (not the admin: alice registered first). Other accounts exist before it:
    API calls made while the browser's session cookie is set would need a CSRF token."""
    response = post_form(
        client,
        "/register",
        {"email": "web@example.com", "password": PASSWORD, "display_name": "Webby"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    login = client.post(
        "/api/v1/auth/login",
        json={"email": "web@example.com", "password": PASSWORD},
        headers={"x-csrftoken": csrf_token(client)},
    )
    return login.json()


def cards_in(html: str) -> list[str]:
    return re.findall(r'data-character-id="([^"]+)"', html)


def builder_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "name": "Built",
        "tagline": "",
        "nickname": "",
        "tags": "space, calm",
        "description": "{{char}} builds.",
        "personality": "",
        "scenario": "",
        "greeting": "Hello {{user}}",
        "example_dialogue": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "creator_notes": "",
        "creator_name": "",
        "character_version": "",
        "alternate_greetings": ["Alt one"],
        "visibility": "public",
        "content_tier": "sfw",
        "premium_credits": "0",
        "temperature": "0.7",
        "top_k": "",
        "extensions_json": '{"app": {"x": 1}}',
        "card_extra_json": "{}",
        "lore_ref": [""],
        "lore_keys": ["moon, sun"],
        "lore_secondary_keys": [""],
        "lore_comment": ["sky"],
        "lore_content": ["The moon is green."],
        "lore_order": ["50"],
        "lore_position": ["after_char"],
        "lore_enabled": ["yes"],
        "lore_constant": ["no"],
    }
    form.update(overrides)
    return form


def post_builder(client: TestClient[Any], url: str, form: dict[str, Any], avatar: bytes = b"", **kwargs: Any) -> Any:
    """The builder form as a browser sends it: multipart, with an empty file part when no picture is chosen."""
    files = {"avatar": ("me.png" if avatar else "", avatar, "image/png" if avatar else "application/octet-stream")}
    return client.post(url, data={**form, "_csrf_token": csrf_token(client)}, files=files, **kwargs)


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 90)).save(out, "PNG")
    return out.getvalue()


# -- discovery --------------------------------------------------------------------------------------------------


def test_discovery_page_has_search_tabs_and_tag_chips(client: TestClient[Any]) -> None:
    page = client.get("/", headers=HTML).text
    assert 'id="q"' in page and 'hx-trigger="input changed delay:250ms from:#q' in page
    assert all(f"/?tab={tab}" in page for tab in ("trending", "new", "rating", "popular"))
    assert 'class="chip' in page and "/?tag=fantasy" in page
    assert len(cards_in(page)) == 3


def test_htmx_requests_get_the_grid_only(client: TestClient[Any]) -> None:
    partial = client.get("/?q=innkeeper", headers=GRID).text
    assert "<html" not in partial and "Results for “innkeeper”" in partial
    assert len(cards_in(partial)) == 1
    full = client.get("/?q=innkeeper", headers=HTML).text  # the same URL without HTMX: the whole page
    assert "<html" in full and 'value="innkeeper"' in full


def test_search_typo_and_empty_result(client: TestClient[Any]) -> None:
    assert len(cards_in(client.get("/?q=inkeeper", headers=GRID).text)) == 1
    empty = client.get("/?q=zzzzqqq", headers=GRID).text
    assert "No character matches “zzzzqqq”" in empty


def test_tag_chip_and_tabs_filter(client: TestClient[Any], bob: dict[str, Any]) -> None:
    made = [
        client.post(
            "/api/v1/characters",
            json={"name": f"N{i}", "visibility": "public", "tags": ["robots"]},
            headers=bearer(bob),
        ).json()["id"]
        for i in range(3)
    ]
    tagged = client.get("/?tag=robots", headers=GRID).text
    assert set(cards_in(tagged)) == set(made) and "#robots" in tagged
    newest = cards_in(client.get("/?tab=new", headers=GRID).text)
    assert newest[:3] == made[::-1]


def test_load_more_appends_the_next_page(client: TestClient[Any], bob: dict[str, Any]) -> None:
    for i in range(26):
        client.post("/api/v1/characters", json={"name": f"P{i}", "visibility": "public"}, headers=bearer(bob))
    first = client.get("/?tab=new", headers=GRID).text
    assert len(cards_in(first)) == 24 and "Load more" in first
    more_url = re.search(r'hx-get="(/\?tab=new&amp;cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    more = client.get(more_url, headers={"hx-request": "true"}).text
    assert "<nav" not in more and len(cards_in(more)) == 5 and "Load more" not in more
    assert not set(cards_in(first)) & set(cards_in(more))


# -- the character page -----------------------------------------------------------------------------------------------


def test_character_page_for_a_visitor_and_for_the_creator(
    client: TestClient[Any], web: dict[str, Any], bob: dict[str, Any]
) -> None:
    body = {
        "name": "Quill",
        "visibility": "public",
        "alternate_greetings": ["Psst, {{user}}"],
        "nickname": "Q",
        "greeting": "I am {{char}}",
        "tags": ["mystery"],
    }
    character = client.post("/api/v1/characters", json=body, headers=bearer(bob)).json()
    page = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert "I am Q" in page and "Psst, Webby" in page and "1 alternate greeting" in page
    assert 'hx-post="/api/v1/users/me/favorites"' in page and f'"character_id": "{character["id"]}"' in page
    assert 'class="favorite"' in page and 'name="rating"' in page
    assert f"/api/v1/characters/{character['id']}/export?format=png" in page
    assert "/edit" not in page  # not the creator
    liked = client.post("/api/v1/users/me/favorites", json={"character_id": character["id"]}, headers=bearer(web))
    assert liked.status_code == 201
    page = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert f'hx-delete="/api/v1/users/me/favorites/{character["id"]}"' in page
    assert "Favorited" in page and "♥" not in page  # an SVG heart, not a font glyph
    client.cookies.clear()
    anonymous = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert "Sign in to rate" not in anonymous and "to rate Quill" in anonymous and "favorites" not in anonymous


def test_premium_characters_hide_export_links(
    client: TestClient[Any], web: dict[str, Any], bob: dict[str, Any]
) -> None:
    body = {"name": "Paid", "visibility": "public", "is_premium": True, "premium_credits": 2}
    character = client.post("/api/v1/characters", json=body, headers=bearer(bob)).json()
    page = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert "export?format=" not in page and "premium · 2 credits" in page


def test_rating_from_the_page(client: TestClient[Any], web: dict[str, Any], bob: dict[str, Any]) -> None:
    character = client.post(
        "/api/v1/characters", json={"name": "Rated", "visibility": "public"}, headers=bearer(bob)
    ).json()
    url = f"/characters/{character['id']}/rate"
    partial = post_form(client, url, {"rating": "4", "review": "Pretty <b>good</b>"}, htmx=True)
    assert partial.status_code == 200 and "<html" not in partial.text
    assert "<strong>4.0</strong> from 1 rating" in partial.text and "Pretty &lt;b&gt;good&lt;/b&gt;" in partial.text
    assert 'value="4" required checked' in partial.text and "Update my rating" in partial.text
    again = post_form(client, url, {"rating": "2"}, follow_redirects=False)
    assert again.status_code == 303
    assert client.get(f"/api/v1/characters/{character['id']}").json()["avg_rating"] == 2.0
    assert post_form(client, url, {"rating": "9"}, htmx=True).status_code == 422


# -- the builder ------------------------------------------------------------------------------------------------------


def test_builder_needs_a_session(client: TestClient[Any]) -> None:
    response = client.get("/characters/new", headers=HTML, follow_redirects=False)
    assert response.status_code in (302, 303, 307) and "/login?next=/characters/new" in response.headers["location"]


def test_builder_creates_every_field(client: TestClient[Any], web: dict[str, Any]) -> None:
    response = post_builder(client, "/characters/new", builder_form(), picture(), follow_redirects=False)
    assert response.status_code == 303, response.text
    character = client.get("/api/v1" + response.headers["location"]).json()
    assert (character["name"], character["greeting"]) == ("Built", "Hello {{user}}")
    assert character["tags"] == ["space", "calm"]
    assert character["alternate_greetings"] == ["Alt one"] and character["settings"] == {"temperature": 0.7}
    assert character["extensions"] == {"app": {"x": 1}} and character["avatar_url"]
    book = client.get(f"/api/v1/lorebooks/{character['lorebook_id']}", headers=bearer(web)).json()
    entry = book["entries"][0]
    assert (entry["keys"], entry["content"], entry["insertion_order"], entry["position"], entry["comment"]) == (
        ["moon", "sun"],
        "The moon is green.",
        50,
        "after_char",
        "sky",
    )


def test_builder_errors_keep_what_was_typed(client: TestClient[Any], web: dict[str, Any]) -> None:
    form = builder_form(name="Keep me", temperature="hot", alternate_greetings=["Still here"])
    response = post_builder(client, "/characters/new", form)
    assert response.status_code == 422 and "temperature must be a number" in response.text
    assert 'value="Keep me"' in response.text and "Still here" in response.text
    assert "The moon is green." in response.text
    bad_json = post_builder(client, "/characters/new", builder_form(extensions_json="{nope"))
    assert bad_json.status_code == 422 and "extensions: not valid JSON" in bad_json.text
    bad_picture = post_builder(client, "/characters/new", builder_form(name="NoPic"), b"<html>")
    assert bad_picture.status_code == 422 and "not an image" in bad_picture.text
    assert client.get("/api/v1/characters/search?q=NoPic", headers=bearer(web)).json()["items"] == []


def test_editing_keeps_what_the_builder_does_not_show(client: TestClient[Any], web: dict[str, Any]) -> None:
    imported = client.post(
        "/api/v1/characters/import", files={"file": ("a.png", card_bytes("v3_aria.png"))}, headers=bearer(web)
    ).json()["items"][0]
    edit = client.get(f"/characters/{imported['id']}/edit", headers=HTML)
    assert edit.status_code == 200 and "Skyreach drifts" in edit.text and 'name="lore_ref" value="1"' in edit.text
    form = builder_form(
        name="Aria Windsong",
        extensions_json=None,
        card_extra_json=None,
        lore_ref=["0", "1"],
        lore_keys=["Skyreach, sky city", "Captain Vell"],
        lore_secondary_keys=["", "ship"],
        lore_comment=["the city", ""],
        lore_content=["Edited.", "Vell."],
        lore_order=["100", "50"],
        lore_position=["before_char", "after_char"],
        lore_enabled=["yes", "no"],
        lore_constant=["yes", "no"],
    )
    for key in ("extensions_json", "card_extra_json"):  # re-post what the edit form showed
        form[key] = re.search(rf'name="{key}"[^>]*>([^<]*)</textarea>', edit.text).group(1).replace("&#34;", '"')
    response = post_builder(client, f"/characters/{imported['id']}/edit", form, follow_redirects=False)
    assert response.status_code == 303, response.text
    character = client.get(f"/api/v1/characters/{imported['id']}", headers=bearer(web)).json()
    assert character["extensions"] == imported["extensions"] and character["card_extra"] == imported["card_extra"]
    entries = client.get(f"/api/v1/lorebooks/{character['lorebook_id']}", headers=bearer(web)).json()["entries"]
    assert entries[0]["content"] == "Edited." and entries[0]["keys"] == ["Skyreach", "sky city"]
    assert entries[0]["extensions"]["x_custom"] == {"a": [1, 2]} and entries[0]["priority"] == 10
    assert entries[1]["extra"] == {"x_unknown_entry_key": "kept"} and entries[1]["use_regex"] is True


def test_only_the_creator_gets_the_edit_page(client: TestClient[Any], web: dict[str, Any], bob: dict[str, Any]) -> None:
    character = client.post(
        "/api/v1/characters", json={"name": "Bob's", "visibility": "public"}, headers=bearer(bob)
    ).json()
    assert client.get(f"/characters/{character['id']}/edit", headers=HTML).status_code == 403
    assert post_form(client, f"/characters/{character['id']}/delete", headers=HTML).status_code == 403


def test_preview_and_rows(client: TestClient[Any], web: dict[str, Any]) -> None:
    preview = post_form(
        client,
        "/characters/builder/preview",
        {"name": "Zed", "nickname": "Z", "greeting": "Hi {{user}}, I am {{char}}. *waves* <b>"},
        htmx=True,
    )
    assert 'Hi Webby, I am Z. <em class="action">waves</em> &lt;b&gt;' in preview.text
    lore = client.get("/characters/builder/row?kind=lore").text
    assert 'name="lore_keys"' in lore and "data-remove-row" in lore
    assert 'name="group_only_greetings"' in client.get("/characters/builder/row?kind=group_greeting").text


def test_deleting_from_the_page(client: TestClient[Any], web: dict[str, Any]) -> None:
    character = client.post("/api/v1/characters", json={"name": "Gone"}, headers=bearer(web)).json()
    page = client.get(f"/characters/{character['id']}", headers=HTML).text
    assert 'data-confirm="Delete Gone?' in page
    response = post_form(client, f"/characters/{character['id']}/delete", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get(f"/api/v1/characters/{character['id']}", headers=bearer(web)).status_code == 404


# -- import -----------------------------------------------------------------------------------------------------------


def test_import_page_reports_each_file(client: TestClient[Any], web: dict[str, Any]) -> None:
    assert 'name="file" multiple' in client.get("/characters/import", headers=HTML).text
    files = [
        ("file", ("flux.png", card_bytes("default_FluxTheCat.png"), "image/png")),
        ("file", ("evil.png", b"<script>alert(1)</script>", "image/png")),
    ]
    partial = client.post(
        "/characters/import",
        files=files,
        data={"visibility": "public"},
        headers={"hx-request": "true", "x-csrftoken": csrf_token(client)},
    )
    assert partial.status_code == 200 and "<html" not in partial.text
    assert "Imported 1 character; 1 file rejected" in partial.text and "Flux the Cat" in partial.text
    assert "evil.png" in partial.text and "<script>" not in partial.text
    flux = client.get("/api/v1/characters/search?q=flux").json()["items"]
    assert flux and flux[0]["visibility"] == "public" and flux[0]["creator_id"] == web["user"]["id"]
    full = client.post("/characters/import", files=files[:1], data={"_csrf_token": csrf_token(client)})
    # The same card again: a full page saying it is already here, with a link to it.
    assert "<html" in full.text and "Imported 0 characters; 1 was already here" in full.text
    assert f'href="/characters/{flux[0]["id"]}"' in full.text


def test_someone_elses_session_cannot_use_my_builder_posts(client: TestClient[Any], bob: dict[str, Any]) -> None:
    character = client.post("/api/v1/characters", json={"name": "Mine"}, headers=bearer(bob)).json()
    register(client, "other@example.com")
    post_form(client, "/login", {"email": "other@example.com", "password": PASSWORD})
    response = post_builder(client, f"/characters/{character['id']}/edit", builder_form(), headers=HTML)
    assert response.status_code == 404  # bob's private character does not exist for others
