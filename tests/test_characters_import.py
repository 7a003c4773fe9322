"""Card import and export through the HTTP API: real cards, our own V1/V2/V3/CharX fixtures, round trips
field by field, and hostile files that must be refused with nothing stored."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from PIL import Image

from bostonia.app import Services
from bostonia.cards.charx import asset_path
from tests.characters_support import (
    ALL_CARDS,
    CARD_ENTRY_DEFAULTS,
    REAL_CARDS,
    assert_kept,
    card_bytes,
    card_in_png,
    png_text_chunks,
    row_counts,
    upload,
)
from tests.helpers import bearer, error_of, register

# What a V2/V3 export states that a V1 card (or a sparse one) may leave out: the spec's defaults.
V2_DEFAULTS = {
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}
# Fields of a character that must survive import -> export -> import (everything but identity and time).
VOLATILE = {"id", "created_at", "updated_at", "lorebook_id"}


@pytest.fixture
def carol(client: TestClient[Any], bob: dict[str, Any]) -> dict[str, Any]:
    return register(client, "carol@example.com", name="Carol")


def import_one(client: TestClient[Any], account: dict[str, Any], name: str, content: bytes, **fields: str) -> dict:
    response = upload(client, [(name, content)], bearer(account), **fields)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["errors"] == [] and len(body["items"]) == 1
    return body["items"][0]


def original_card(path: Path) -> dict[str, Any]:
    """The card JSON as the file carries it (the preferred chunk of a PNG, card.json of a CharX)."""
    data = path.read_bytes()
    if path.suffix == ".png":
        chunks = png_text_chunks(data)
        return json.loads(base64.b64decode(chunks.get("ccv3") or chunks["chara"]))
    if path.suffix == ".charx":
        return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("card.json"))
    return json.loads(data)


def exported_card(content: bytes, fmt: str) -> dict[str, Any]:
    if fmt == "png":
        return card_in_png(content, "ccv3")
    if fmt == "charx":
        return json.loads(zipfile.ZipFile(io.BytesIO(content)).read("card.json"))
    return json.loads(content)


def export(client: TestClient[Any], account: dict[str, Any] | None, character_id: str, fmt: str, **query: str) -> Any:
    params = "&".join(f"{k}={v}" for k, v in {"format": fmt, **query}.items())
    return client.get(f"/api/v1/characters/{character_id}/export?{params}", headers=bearer(account) if account else {})


def lorebook_of(client: TestClient[Any], account: dict[str, Any], character: dict[str, Any]) -> list[dict[str, Any]]:
    if character["lorebook_id"] is None:
        return []
    book = client.get(f"/api/v1/lorebooks/{character['lorebook_id']}", headers=bearer(account)).json()
    return [{k: v for k, v in e.items() if k != "id"} for e in book["entries"]]


# -- real cards ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", REAL_CARDS, ids=lambda p: p.name)
def test_real_sillytavern_card_imports_every_field(client: TestClient[Any], alice: dict[str, Any], path: Path) -> None:
    data = card_in_png(path.read_bytes(), "chara")["data"]
    character = import_one(client, alice, path.name, path.read_bytes())
    assert character["name"] == data["name"] and character["description"] == data["description"]
    assert character["greeting"] == data["first_mes"] and character["example_dialogue"] == data["mes_example"]
    assert character["creator_notes"] == data["creator_notes"] and character["creator_name"] == data["creator"]
    assert character["post_history_instructions"] == data["post_history_instructions"]
    assert character["character_version"] == data["character_version"] and character["tags"] == data["tags"]
    assert character["extensions"] == data["extensions"]
    assert character["visibility"] == "private" and character["creator_id"] == alice["user"]["id"]
    assert character["avatar_url"].startswith("/media/avatars/") and character["avatar_thumb_url"].endswith(".webp")


def test_v3_fixture_keeps_v3_fields_and_its_lorebook(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = import_one(client, alice, "aria.png", card_bytes("v3_aria.png"))
    assert character["name"] == "Aria Windsong"  # from ccv3, not the older chara chunk
    assert character["nickname"] == "Ari" and character["group_only_greetings"] == ["Hello, everyone!"]
    assert character["card_extra"]["source"] == ["https://example.com/aria"]
    assert character["card_extra"]["x_app_key"] == {"keep": "me"}
    assert character["alternate_greetings"] == [
        "The wind is loud today, {{user}}.",
        "*A gull lands on the map.* Oh! Hello.",
    ]
    entries = lorebook_of(client, alice, character)
    assert [e["keys"] for e in entries] == [["Skyreach", "floating city"], ["Captain Vell"]]
    assert entries[0]["extensions"]["x_custom"] == {"a": [1, 2]}
    assert entries[1]["extra"] == {"x_unknown_entry_key": "kept"}


def test_charx_fixture_keeps_assets_and_takes_the_main_icon(
    client: TestClient[Any], alice: dict[str, Any], services: Services
) -> None:
    character = import_one(client, alice, "bram.charx", card_bytes("v3_bram.charx"))
    assert character["name"] == "Bram Stonehollow" and character["avatar_url"]
    icon = Image.open(io.BytesIO(client.get(character["avatar_url"]).content))
    assert icon.size == (32, 32)
    exported = zipfile.ZipFile(io.BytesIO(export(client, alice, character["id"], "charx").content))
    original = zipfile.ZipFile(io.BytesIO(card_bytes("v3_bram.charx")))
    assert sorted(exported.namelist()) == sorted(original.namelist())
    for name in original.namelist():
        if name != "card.json":
            assert exported.read(name) == original.read(name), name


def test_a_risuai_png_keeps_the_assets_it_carries_in_its_own_chunks(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """RisuAI writes a V3 card's assets into the PNG as `chara-ext-asset_:<path>` chunks (`__asset:<path>`
    URIs): they are kept, and travel in a CharX export beside the picture as the main icon."""
    happy = _png_with(size=(3, 3))
    card = {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Risa",
            "first_mes": "Hi!",
            "group_only_greetings": [],
            "assets": [
                {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
                {"type": "emotion", "uri": "__asset:0", "name": "happy", "ext": "png"},
            ],
        },
    }
    png = _png_with(
        _chunk(b"tEXt", b"ccv3\0" + base64.b64encode(json.dumps(card).encode())),
        _chunk(b"tEXt", b"chara-ext-asset_:0\0" + base64.b64encode(happy)),
    )
    character = import_one(client, alice, "risa.png", png)
    exported = zipfile.ZipFile(io.BytesIO(export(client, alice, character["id"], "charx").content))
    assert exported.read("0") == happy
    assets = json.loads(exported.read("card.json"))["data"]["assets"]
    assert assets[1]["uri"] == "__asset:0"
    icon = asset_path(assets[0]["uri"])
    assert icon is not None and Image.open(io.BytesIO(exported.read(icon))).size == (2, 2)  # the card's picture


# -- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "json", "charx"])
@pytest.mark.parametrize("path", ALL_CARDS, ids=lambda p: p.name)
def test_round_trip_is_lossless(client: TestClient[Any], alice: dict[str, Any], path: Path, fmt: str) -> None:
    """import -> export -> import: the exported card holds every field of the original (extensions, the lorebook
    and V3 extras included), and the second import equals the first field by field."""
    first = import_one(client, alice, path.name, path.read_bytes())
    response = export(client, alice, first["id"], fmt)
    assert response.status_code == 200, response.text
    card = exported_card(response.content, fmt)
    assert card["spec"] == "chara_card_v3" and card["spec_version"] == "3.0"
    original = original_card(path)
    data = original.get("data", original)
    added = {"group_only_greetings": [], **V2_DEFAULTS}
    if fmt == "charx" and path.suffix != ".charx" and first["avatar_url"]:
        # The picture travels as the V3 main icon inside the zip (`ccdefault:` has no image to point at there).
        icon = next(a for a in card["data"]["assets"] if a["type"] == "icon" and a["name"] == "main")
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert archive.read(icon["uri"].removeprefix("embeded://")).startswith(b"\x89PNG")
        data = {k: v for k, v in data.items() if k != "assets"}
    if "character_book" in data:
        assert_kept(data["character_book"], card["data"]["character_book"], additions=CARD_ENTRY_DEFAULTS)
    compared = {k: v for k, v in card["data"].items() if k != "character_book" and (k in data or k != "assets")}
    assert_kept({k: v for k, v in data.items() if k != "character_book"}, compared, additions=added)
    if "data" in original:  # top-level keys of V2/V3 cards (SillyTavern's creatorcomment, chat, fav, ...)
        for key, value in original.items():
            if key not in ("data", "spec", "spec_version"):
                assert card[key] == value, key

    second = import_one(client, alice, f"again.{fmt}", response.content)
    # A JSON card has no picture; a picture-less character exports a generated one in PNG and CharX.
    pictureless = fmt == "json" or path.suffix == ".json"
    ignore = VOLATILE | ({"avatar_url", "avatar_thumb_url"} if pictureless else set())
    if fmt == "charx" and path.suffix != ".charx" and first["avatar_url"]:
        ignore |= {"card_extra"}
        without_assets = {k: v for k, v in first["card_extra"].items() if k != "assets"}
        assert {k: v for k, v in second["card_extra"].items() if k != "assets"} == without_assets
    assert {k: v for k, v in second.items() if k not in ignore} == {k: v for k, v in first.items() if k not in ignore}
    assert lorebook_of(client, alice, second) == lorebook_of(client, alice, first)
    # And a second export is identical to the first: nothing drifts.
    assert exported_card(export(client, alice, second["id"], fmt).content, fmt) == card


def test_png_export_carries_v2_and_v3_with_the_avatar(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = import_one(client, alice, "flux.png", card_bytes("default_FluxTheCat.png"))
    response = export(client, alice, character["id"], "png")
    assert response.headers["content-type"] == "image/png"
    assert 'filename="Flux the Cat.png"' in response.headers["content-disposition"]
    v2, v3 = card_in_png(response.content, "chara"), card_in_png(response.content, "ccv3")
    assert (v2["spec"], v2["spec_version"], v3["spec"], v3["spec_version"]) == (
        "chara_card_v2",
        "2.0",
        "chara_card_v3",
        "3.0",
    )
    assert v2["data"] == v3["data"]
    assert png_text_chunks(response.content)["__order__"].endswith(b"tEXt,tEXt,IEND")
    with Image.open(io.BytesIO(response.content)) as image:
        avatar = Image.open(io.BytesIO(client.get(character["avatar_url"]).content))
        assert image.size == avatar.size


def test_a_pygmalion_json_character_imports_and_exports_as_a_card(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    pygmalion = {
        "char_name": "Aria",
        "char_persona": "A charming rogue.",
        "world_scenario": "A tavern.",
        "char_greeting": "Well, well.",
        "example_dialogue": "<START>\nAria: Hello, darling.",
    }
    character = import_one(client, alice, "Aria.json", json.dumps(pygmalion).encode())
    assert (character["name"], character["description"], character["greeting"]) == (
        "Aria",
        "A charming rogue.",
        "Well, well.",
    )
    card = export(client, alice, character["id"], "json", spec="v2").json()["data"]
    assert card["scenario"] == "A tavern." and card["mes_example"] == "<START>\nAria: Hello, darling."
    assert not any(key.startswith("char_") for key in card)  # stored as card fields, not carried as extras


def test_an_agnai_character_imports_as_the_card_agnai_exports_of_it(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """Its W++ persona rendered into the description as Agnai writes it, `description` as the creator's note,
    its memory book as the character book."""
    agnai = {
        "kind": "character",
        "name": "Robot",
        "description": "A friendly robot for testing.",
        "persona": {"kind": "wpp", "attributes": {"species": ["robot"], "mind": ["kind", "curious"]}},
        "greeting": "*Beep!* Hello, {{user}}!",
        "scenario": "{{char}} sits in a busy cafe.",
        "sampleChat": "{{user}}: News!\n{{char}}: *whirrs* Tell me!",
        "alternateGreetings": ["*Boop.* You again?"],
        "systemPrompt": "Stay in character.",
        "tags": ["robot", "sfw"],
        "characterBook": {
            "kind": "memory",
            "name": "Cafe",
            "entries": [
                {
                    "name": "Menu",
                    "entry": "The cafe sells oil lattes.",
                    "keywords": ["menu", "coffee"],
                    "priority": 5,
                    "weight": 10,
                    "enabled": True,
                }
            ],
        },
        "avatar": "/assets/robot.png",
    }
    character = import_one(client, alice, "Robot.json", json.dumps(agnai).encode())
    assert character["description"] == '[character("Robot") {\nspecies("robot")\nmind("kind" + "curious")\n}]'
    assert character["greeting"] == "*Beep!* Hello, {{user}}!"
    card = export(client, alice, character["id"], "json", spec="v2").json()["data"]
    assert card["creator_notes"] == "A friendly robot for testing."
    assert card["mes_example"] == "{{user}}: News!\n{{char}}: *whirrs* Tell me!"
    assert card["alternate_greetings"] == ["*Boop.* You again?"] and card["system_prompt"] == "Stay in character."
    assert card["tags"] == ["robot", "sfw"]
    [entry] = card["character_book"]["entries"]
    assert (entry["keys"], entry["content"], entry["insertion_order"]) == (
        ["menu", "coffee"],
        "The cafe sells oil lattes.",
        10,
    )
    assert card["extensions"]["agnai"]["persona"]["kind"] == "wpp"  # Agnai reads its own persona back


@pytest.mark.parametrize(
    ("kind", "description"),
    [
        ("sbf", '[ character: "Ivy"; mind: "calm", "sly"; looks: "green" ]'),
        ("boostyle", "Ivy + calm + sly + green"),
        ("text", "Ivy is calm."),
    ],
)
def test_agnai_persona_notations(client: TestClient[Any], alice: dict[str, Any], kind: str, description: str) -> None:
    attributes = {"text": ["Ivy is calm."]} if kind == "text" else {"mind": ["calm", "sly"], "looks": ["green"]}
    ivy = {
        "name": "Ivy",
        "persona": {"kind": kind, "attributes": attributes},
        "greeting": "Hi.",
        "scenario": "",
        "sampleChat": "",
    }  # no `kind`: Agnai's older exports are known by their fields
    assert import_one(client, alice, "Ivy.json", json.dumps(ivy).encode())["description"] == description


def test_a_backyard_legacy_json_character_imports_as_a_card(client: TestClient[Any], alice: dict[str, Any]) -> None:
    """Backyard's (Faraday's) older export: `{character}`/`{user}` read as card macros, its lore items a book."""
    faraday = {
        "character": {
            "aiDisplayName": "Captain Reyes",
            "aiName": "Reyes",
            "aiPersona": "{character} commands the airship Gale. {character} distrusts {user}.",
            "basePrompt": "Text transcript of a never-ending conversation between {user} and {character}.",
            "customDialogue": "{user}: Who are you?\n{character}: The captain. Mind the ropes.",
            "firstMessage": "*The deck lurches.* Hold on, {user}!",
            "scenario": "A storm over the sea.",
            "loreItems": [{"key": "Gale, airship", "value": "The Gale is {character}'s airship."}],
            "isNSFW": False,
        },
        "version": 1,
    }
    character = import_one(client, alice, "reyes.json", json.dumps(faraday).encode())
    assert character["name"] == "Captain Reyes"
    assert character["description"] == "{{char}} commands the airship Gale. {{char}} distrusts {{user}}."
    assert character["greeting"] == "*The deck lurches.* Hold on, {{user}}!"
    card = export(client, alice, character["id"], "json", spec="v2").json()["data"]
    assert card["mes_example"] == "<START>\n{{user}}: Who are you?\n{{char}}: The captain. Mind the ropes.\n"
    assert card["system_prompt"].startswith("Text transcript of a never-ending conversation between {{user}}")
    assert card["scenario"] == "A storm over the sea."
    [entry] = card["character_book"]["entries"]
    assert entry["keys"] == ["Gale", "airship"] and entry["content"] == "The Gale is {{char}}'s airship."
    flat = {"aiName": "Reyes", "aiPersona": "A captain.", "firstMessage": "Ahoy."}  # not wrapped: read the same
    assert import_one(client, alice, "flat.json", json.dumps(flat).encode())["name"] == "Reyes"


def test_a_text_generation_webui_yaml_character_imports_as_a_card(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """Its `context` is the description and `greeting` the first message (as SillyTavern reads them); a date
    the YAML parser reads as one is kept as text."""
    yaml_character = (
        "name: Aria\n"
        "greeting: |-\n  *looks up from her drink* Well, well.\n\n  Who are you?\n"
        'context: "Aria is a charming rogue.\\n\\n{{user}}: Hi\\n{{char}}: Hello, darling."\n'
        "created: 2023-05-12\n"
    )
    character = import_one(client, alice, "Aria.yaml", yaml_character.encode())
    assert character["name"] == "Aria"
    assert character["greeting"] == "*looks up from her drink* Well, well.\n\nWho are you?"
    assert character["description"].startswith("Aria is a charming rogue.\n\n{{user}}: Hi")
    card = export(client, alice, character["id"], "json", spec="v2").json()["data"]
    assert card["first_mes"].endswith("Who are you?") and card["created"] == "2023-05-12"
    assert "context" not in card and "greeting" not in card


def byaf(
    character: dict[str, Any], scenarios: list[dict[str, Any]], files: dict[str, bytes] | None = None, **manifest: Any
) -> bytes:
    """A Backyard AI archive laid out as the BYAF v1 spec says: manifest, one character folder, scenarios."""
    folder = f"characters/{character.get('id', 'c1')}"
    members = {
        "manifest.json": json.dumps(
            {
                "schemaVersion": 1,
                "createdAt": "2025-06-06T12:00:00Z",
                "characters": [f"{folder}/character.json"],
                "scenarios": [f"scenarios/s{n}.json" for n in range(len(scenarios))],
                **manifest,
            }
        ).encode(),
        f"{folder}/character.json": json.dumps(character).encode(),
        **{f"scenarios/s{n}.json": json.dumps(scenario).encode() for n, scenario in enumerate(scenarios)},
        **(files or {}),
    }
    return _zip(members)


def scenario(**fields: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "formattingInstructions": "",
        "minP": 0.1,
        "minPEnabled": True,
        "temperature": 0.8,
        "repeatPenalty": 1.05,
        "repeatLastN": 256,
        "topK": 30,
        "topP": 0.9,
        "exampleMessages": [],
        "canDeleteExampleMessages": True,
        "firstMessages": [],
        "narrative": "",
        "promptTemplate": None,
        "grammar": None,
        "messages": [],
        **fields,
    }


BYAF_CHARACTER = {
    "schemaVersion": 1,
    "id": "c1",
    "name": "mira",
    "displayName": "Mira Vale",
    "isNSFW": True,
    "persona": "{character} is a lighthouse keeper who distrusts {user} at first.\n#{user}: Hello?\n#{character}: No.",
    "createdAt": "2025-01-02T03:04:05Z",
    "updatedAt": "2025-01-02T03:04:05Z",
    "loreItems": [
        {"key": "lighthouse, lamp", "value": "The lamp has not gone out in forty years."},
        {"key": "storm", "value": "{character} fears the winter storms."},
    ],
    "images": [{"path": "images/mira.png", "label": "Portrait"}],
}


def test_a_backyard_ai_byaf_imports_as_the_card_sillytavern_makes_of_it(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    """Persona -> description, the first scenario's narrative, greeting, example dialogue and formatting
    instructions -> scenario, first message, examples, system prompt; the other scenarios' greetings ->
    alternate greetings; lore items -> a character book; the listed image -> the avatar; Backyard's
    `{character}`/`{user}` -> `{{char}}`/`{{user}}`; `isNSFW` -> the adult tier."""
    picture = io.BytesIO()
    Image.new("RGB", (64, 80), (200, 40, 40)).save(picture, "PNG")
    first = scenario(
        narrative="A storm traps {user} at {character}'s lighthouse.",
        formattingInstructions="Write {character}'s actions in asterisks.",
        firstMessages=[{"characterID": "c1", "text": "*{character} bars the door.* Who sent you?"}],
        exampleMessages=[
            {"characterID": "c1", "text": "#{user}: Hello?\n#{character}: Go away."},
            {"characterID": "c1", "text": "#{character}: The lamp needs oil."},
        ],
        messages=[{"type": "human", "createdAt": "x", "updatedAt": "x", "text": "Hi"}],
    )
    second = scenario(firstMessages=[{"characterID": "c1", "text": "*{character} waves from the rocks.*"}])
    archive = byaf(
        BYAF_CHARACTER,
        [first, second],
        {"characters/c1/images/mira.png": picture.getvalue()},
        author={"name": "Backyard Author", "backyardURL": "https://backyard.ai/hub/user/x"},
    )
    character = import_one(client, alice, "Mira.byaf", archive)
    assert character["name"] == "Mira Vale"
    assert character["description"] == (
        "{{char}} is a lighthouse keeper who distrusts {{user}} at first.\n{{user}}: Hello?\n{{char}}: No."
    )
    assert character["greeting"] == "*{{char}} bars the door.* Who sent you?"
    assert character["alternate_greetings"] == ["*{{char}} waves from the rocks.*"]
    assert character["content_tier"] == "adult"
    assert Image.open(io.BytesIO(client.get(character["avatar_url"]).content)).size == (64, 80)
    card = export(client, alice, character["id"], "json", spec="v2").json()["data"]
    assert card["scenario"] == "A storm traps {{user}} at {{char}}'s lighthouse."
    assert card["system_prompt"] == "Write {{char}}'s actions in asterisks."
    assert (
        card["mes_example"] == "<START>\n{{user}}: Hello?\n{{char}}: Go away.\n<START>\n{{char}}: The lamp needs oil.\n"
    )
    assert card["creator"] == "Backyard Author"
    entries = lorebook_of(client, alice, character)
    assert sorted((tuple(e["keys"]), e["content"]) for e in entries) == [
        (("lighthouse", "lamp"), "The lamp has not gone out in forty years."),
        (("storm",), "{{char}} fears the winter storms."),
    ]


def test_a_byaf_whose_image_is_missing_imports_without_a_picture(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    character = import_one(client, alice, "m.byaf", byaf({**BYAF_CHARACTER, "isNSFW": False}, [scenario()]))
    assert character["name"] == "Mira Vale" and character["avatar_url"] is None
    assert character["greeting"] == "" and character["content_tier"] == "sfw"


def test_json_export_v2(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = import_one(client, alice, "aria.png", card_bytes("v3_aria.png"))
    card = export(client, alice, character["id"], "json", spec="v2").json()
    assert card["spec"] == "chara_card_v2" and card["data"]["character_book"]["entries"][0]["id"] == 7


def test_created_character_exports_with_a_placeholder_and_its_settings(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    body = {
        "name": "Plain",
        "greeting": "Hi {{user}}",
        "tagline": "A custom line",
        "content_tier": "mature",
        "settings": {"temperature": 0.5, "max_tokens": 99},
        "visibility": "public",
    }
    character = client.post("/api/v1/characters", json=body, headers=bearer(alice)).json()
    png = export(client, alice, character["id"], "png").content
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (400, 600)
    ours = card_in_png(png, "ccv3")["data"]["extensions"]["bostonia"]
    assert ours == {
        "tagline": "A custom line",
        "settings": {"temperature": 0.5, "max_tokens": 99},
        "content_tier": "mature",
    }
    again = import_one(client, alice, "plain.png", png)
    assert (again["tagline"], again["settings"], again["content_tier"]) == (
        "A custom line",
        {"temperature": 0.5, "max_tokens": 99},
        "mature",
    )


# -- who may import and export --------------------------------------------------------------------------------


def test_import_needs_an_account(client: TestClient[Any]) -> None:
    response = upload(client, [("a.png", card_bytes("v3_aria.png"))], {})
    assert response.status_code == 401


def test_visibility_and_tier_options(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    private = import_one(client, alice, "a.png", card_bytes("v3_aria.png"))
    public = import_one(client, alice, "f.png", card_bytes("default_FluxTheCat.png"), visibility="public")
    adult = import_one(client, alice, "m.json", json.dumps({"name": "Spicy", "tags": ["NSFW"]}).encode())
    assert adult["content_tier"] == "adult"
    assert import_one(client, alice, "m.json", b'{"name": "Calm"}', content_tier="mature")["content_tier"] == "mature"
    seen = {c["id"] for c in client.get("/api/v1/characters", headers=bearer(bob)).json()["items"]}
    assert public["id"] in seen and private["id"] not in seen
    assert export(client, bob, private["id"], "png").status_code == 404
    assert export(client, bob, public["id"], "json").status_code == 200
    assert export(client, None, public["id"], "json").status_code == 200


def test_premium_characters_leave_only_through_their_creator(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any], carol: dict[str, Any]
) -> None:
    body = {"name": "Paid", "visibility": "public", "is_premium": True, "premium_credits": 5}
    character = client.post("/api/v1/characters", json=body, headers=bearer(bob)).json()
    denied = export(client, carol, character["id"], "png")
    assert denied.status_code == 403 and "premium" in error_of(denied)["message"]
    assert export(client, bob, character["id"], "png").status_code == 200
    assert export(client, alice, character["id"], "png").status_code == 200  # alice is the admin


def test_unknown_export_format_is_a_400(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = import_one(client, alice, "a.png", card_bytes("v3_aria.png"))
    assert export(client, alice, character["id"], "pdf").status_code == 400


# -- several files -----------------------------------------------------------------------------------------------


def test_each_file_stands_alone(client: TestClient[Any], alice: dict[str, Any]) -> None:
    files = [
        ("good.png", card_bytes("default_CodingSensei.png")),
        ("bad.png", b"<html>nope</html>"),
        ("book.json", b'{"entries": {"0": {"uid": 0, "key": ["k"], "content": "c"}}}'),
    ]
    response = upload(client, files, bearer(alice))
    assert response.status_code == 201
    body = response.json()
    assert [c["name"] for c in body["items"]] == ["Coding Sensei"] and len(body["lorebooks"]) == 1
    assert body["errors"] == [
        {
            "file": "bad.png",
            "status": 422,
            "code": "unsupported_file_type",
            "message": body["errors"][0]["message"],
            "details": None,
        }
    ]
    assert "HTML" in body["errors"][0]["message"]
    assert [(f["file"], f["kind"]) for f in body["files"]] == [
        ("good.png", "character"),
        ("bad.png", "error"),
        ("book.json", "lorebook"),
    ]


def test_all_files_failing_is_an_error_listing_each(client: TestClient[Any], alice: dict[str, Any]) -> None:
    response = upload(client, [("a.png", b"<html/>"), ("b.json", b'{"name": 3}')], bearer(alice))
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "import_failed"
    assert [(e["file"], e["code"]) for e in error["details"]["errors"]] == [
        ("a.png", "unsupported_file_type"),
        ("b.json", "invalid_card"),
    ]


def test_too_many_files_in_one_request(client: TestClient[Any], alice: dict[str, Any], services: Services) -> None:
    services.transfer.uploads.max_files_per_import = 2  # the route reads the live settings object
    try:
        response = upload(client, [(f"{i}.json", b'{"name": "x"}') for i in range(3)], bearer(alice))
    finally:
        services.transfer.uploads.max_files_per_import = 100
    assert response.status_code == 413 and error_of(response)["code"] == "too_many_files"


# -- hostile input ---------------------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_with(*chunks: bytes, idat: bytes | None = None, size: tuple[int, int] = (2, 2)) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0))
    pixels = idat if idat is not None else zlib.compress(b"\0" + b"\x80" * 6 + b"\0" + b"\x40" * 6)
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _card_chunk(card: object) -> bytes:
    return _chunk(b"tEXt", b"chara\0" + base64.b64encode(json.dumps(card).encode()))


def _zip(files: dict[str, bytes], prefix: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return prefix + buffer.getvalue()


def _wrong_crc() -> bytes:
    data = bytearray(card_bytes("v3_aria.png"))
    data[-30] ^= 0x55
    return bytes(data)


GOOD_CARD = json.dumps({"spec": "chara_card_v3", "data": {"name": "Z"}}).encode()
HOSTILE = [
    ("truncated.png", card_bytes("default_CodingSensei.png")[:200_000], 422, "invalid_png"),
    ("crc.png", _wrong_crc(), 422, "invalid_png"),
    ("big-chunk.png", _png_with(_chunk(b"tEXt", b"chara\0" + b"A" * (12 * 1024 * 1024))), 413, "chunk_too_large"),
    ("nob64.png", _png_with(_chunk(b"tEXt", b"chara\0{not base64}")), 422, "invalid_card"),
    (
        "utf16.png",
        _png_with(_chunk(b"tEXt", b"chara\0" + base64.b64encode("{}".encode("utf-16")))),
        422,
        "invalid_card",
    ),
    ("types.png", _png_with(_card_chunk({"spec": "chara_card_v2", "data": {"name": ["x"]}})), 422, "invalid_card"),
    (
        "book.png",
        _png_with(
            _card_chunk({"spec": "chara_card_v2", "data": {"name": "x", "character_book": {"entries": [{"keys": 7}]}}})
        ),
        422,
        "invalid_lorebook",
    ),
    (
        "asset.png",
        _png_with(_card_chunk({"name": "x"}), _chunk(b"tEXt", b"chara-ext-asset_:0\0{not}")),
        422,
        "invalid_card",
    ),
    ("pixels.png", _png_with(_card_chunk({"name": "x"}), idat=b"not zlib at all"), 422, "invalid_image"),
    ("html.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 422, "unsupported_file_type"),
    (
        "types.json",
        b'{"spec": "chara_card_v2", "data": {"name": "x", "alternate_greetings": "hi"}}',
        422,
        "invalid_card",
    ),
    ("latin1.json", '{"name": "café"}'.encode("latin-1"), 422, "invalid_json"),
    ("bomb.charx", _zip({"card.json": GOOD_CARD, "bomb.bin": b"\0" * (120 * 1024 * 1024)}), 413, "charx_too_large"),
    ("escape.charx", _zip({"card.json": GOOD_CARD, "../../etc/evil": b"x"}), 422, "invalid_charx"),
    ("abs.charx", _zip({"card.json": GOOD_CARD, "/tmp/evil": b"x"}), 422, "invalid_charx"),
    ("nocard.charx", _zip({"x.json": GOOD_CARD}, prefix=b"MZ junk"), 422, "invalid_charx"),
    ("garbage.charx", b"PK\x03\x04garbage", 422, "invalid_charx"),
    ("empty.json", b"", 422, "empty_file"),
    (
        "nochar.byaf",
        _zip({"manifest.json": b'{"schemaVersion": 1, "characters": [], "scenarios": []}'}),
        422,
        "invalid_byaf",
    ),
    ("gone.byaf", _zip({"manifest.json": b'{"characters": ["characters/x/character.json"]}'}), 422, "invalid_byaf"),
    ("list.byaf", _zip({"manifest.json": b"[1, 2]"}), 422, "invalid_byaf"),
    ("badjson.byaf", _zip({"manifest.json": b"{nope"}), 422, "invalid_json"),
    (
        "noname.byaf",
        _zip({"manifest.json": b'{"characters": ["c.json"]}', "c.json": b'{"name": "", "displayName": " "}'}),
        422,
        "invalid_byaf",
    ),
    (
        "lore.byaf",
        _zip({"manifest.json": b'{"characters": ["c.json"]}', "c.json": b'{"name": "x", "loreItems": [{"key": 1}]}'}),
        422,
        "invalid_byaf",
    ),
    ("escape.byaf", _zip({"manifest.json": b"{}", "../evil": b"x"}), 422, "invalid_charx"),
    ("agnai-persona.json", b'{"kind": "character", "name": "x", "persona": "words"}', 422, "invalid_card"),
    ("agnai-noname.json", b'{"kind": "character", "name": " ", "persona": {"kind": "text"}}', 422, "invalid_card"),
    ("agnai-book.json", b'{"kind": "character", "name": "x", "characterBook": {"entries": [7]}}', 422, "invalid_card"),
    ("backyard-noname.json", b'{"character": {"aiName": "", "aiPersona": "x"}}', 422, "invalid_byaf"),
    ("backyard-lore.json", b'{"aiName": "x", "loreItems": [{"key": ["k"], "value": "v"}]}', 422, "invalid_byaf"),
    ("laughs.yaml", b"name: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", 422, "invalid_card"),
    ("deep.yaml", b"name: " + b"[" * 200 + b"]" * 200, 422, "invalid_card"),
    ("noname.yaml", b"greeting: hi\ncontext: someone\n", 422, "unsupported_file_type"),
    ("number.yaml", b"name: 7\n", 422, "invalid_card"),
    ("date.yaml", b"name: x\ncreated: 2023-13-45\n", 422, "invalid_card"),
    ("tag.yaml", b"name: !!python/object:os.system x\n", 422, "invalid_card"),
]


@pytest.mark.parametrize(("name", "content", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_and_nothing_is_stored(
    client: TestClient[Any],
    alice: dict[str, Any],
    services: Services,
    name: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    before = row_counts(client, services)
    response = upload(client, [(name, content)], bearer(alice))
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code and error["message"]
    assert row_counts(client, services) == before


def test_a_body_over_the_server_limit_is_refused(
    client: TestClient[Any], alice: dict[str, Any], services: Services
) -> None:
    before = row_counts(client, services)
    payload = _png_with(_chunk(b"tEXt", b"chara\0" + b"A" * (50 * 1024 * 1024)))
    response = upload(client, [("huge.png", payload)], bearer(alice))
    assert response.status_code == 413
    assert row_counts(client, services) == before


# -- avatars ------------------------------------------------------------------------------------------------------


def _image(kind: str = "PNG", size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, kind)
    return out.getvalue()


def _avatar(client: TestClient[Any], account: dict[str, Any], character_id: str, content: bytes) -> Any:
    return client.post(
        f"/api/v1/characters/{character_id}/avatar",
        files={"file": ("a.png", content, "image/png")},
        headers=bearer(account),
    )


def test_avatar_upload_is_reencoded_thumbnailed_and_cached(client: TestClient[Any], alice: dict[str, Any]) -> None:
    character = client.post("/api/v1/characters", json={"name": "Pic"}, headers=bearer(alice)).json()
    updated = _avatar(client, alice, character["id"], _image("JPEG", (2000, 1000))).json()
    full = client.get(updated["avatar_url"])
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert "max-age=31536000" in full.headers["cache-control"] and "immutable" in full.headers["cache-control"]
    assert full.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(full.content)).size == (1024, 512)
    thumb = client.get(updated["avatar_thumb_url"])
    assert thumb.headers["content-type"] == "image/webp" and max(Image.open(io.BytesIO(thumb.content)).size) == 256


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"<html><body>hi</body></html>", 422, "invalid_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 422, "invalid_image"),
        (_image()[:300], 422, "invalid_image"),
        (_png_with(size=(100_000, 100_000)), 413, "image_too_large"),
    ],
    ids=["html", "garbage-png", "truncated", "decompression-bomb"],
)
def test_bad_avatars_are_refused(
    client: TestClient[Any], alice: dict[str, Any], services: Services, content: bytes, status: int, code: str
) -> None:
    character = client.post("/api/v1/characters", json={"name": "Pic"}, headers=bearer(alice)).json()
    before = row_counts(client, services)
    response = _avatar(client, alice, character["id"], content)
    assert response.status_code == status and error_of(response)["code"] == code
    assert row_counts(client, services) == before
    assert client.get(f"/api/v1/characters/{character['id']}", headers=bearer(alice)).json()["avatar_url"] is None


def test_only_the_creator_changes_the_avatar(
    client: TestClient[Any], bob: dict[str, Any], carol: dict[str, Any]
) -> None:
    character = client.post(
        "/api/v1/characters", json={"name": "P", "visibility": "public"}, headers=bearer(bob)
    ).json()
    assert _avatar(client, carol, character["id"], _image()).status_code == 403


def test_json_exports_of_the_two_specs_have_their_own_file_names(
    client: TestClient[Any], alice: dict[str, Any]
) -> None:
    character = import_one(client, alice, "flux.png", card_bytes("default_FluxTheCat.png"))
    names = {
        spec: client.get(
            f"/api/v1/characters/{character['id']}/export",
            params={"format": "json", "spec": spec},
            headers=bearer(alice),
        ).headers["content-disposition"]
        for spec in ("v2", "v3")
    }
    assert 'filename="Flux the Cat.v2.json"' in names["v2"] and 'filename="Flux the Cat.v3.json"' in names["v3"]


def test_importing_the_same_card_again_is_noticed_not_duplicated(
    client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    content = card_bytes("default_FluxTheCat.png")
    first = import_one(client, alice, "flux.png", content)
    again = upload(client, [("flux-again.png", content)], bearer(alice))
    assert again.status_code == 200, again.text  # nothing new
    body = again.json()
    assert body["items"] == [] and body["files"] == [
        {"file": "flux-again.png", "kind": "duplicate", "id": first["id"], "format": "png", "error": None}
    ]
    listed = client.get("/api/v1/characters", params={"limit": 100}, headers=bearer(alice)).json()["items"]
    assert sum(1 for c in listed if c["name"] == first["name"] and c["creator_id"] == alice["user"]["id"]) == 1
    # Asked for, a copy is made; someone else's import of the same card is theirs, never a duplicate.
    copy = upload(client, [("flux.png", content)], bearer(alice), duplicates="true")
    assert copy.status_code == 201 and copy.json()["items"][0]["id"] != first["id"]
    assert upload(client, [("flux.png", content)], bearer(bob)).status_code == 201
    # The same file twice in one upload: one character, the other file named as its twin.
    carol = register(client, "carol@example.com")
    twice = upload(client, [("a.png", content), ("b.png", content)], bearer(carol))
    kinds = [f["kind"] for f in twice.json()["files"]]
    assert kinds == ["character", "error"] and "the same card as a.png" in twice.text
