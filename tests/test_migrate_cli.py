"""`bostonia migrate sillytavern`: a SillyTavern user's folder (cards, chats, group chats, World Info,
personas) becomes the account's library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from bostonia.cli import app
from tests.characters_support import CARDS, LOREBOOKS

runner = CliRunner()
OWNER = "tavern@example.com"


def chat_lines(character: str, *texts: str, world: str | None = None) -> str:
    header = {"user_name": "Ren", "character_name": character, "create_date": "2025-04-01@21h05m09s"}
    lines: list[dict[str, object]] = [{**header, "chat_metadata": {"world_info": world}} if world else header]
    for n, text in enumerate(texts):
        speaker = "Ren" if n % 2 else character
        lines.append({"name": speaker, "is_user": bool(n % 2), "send_date": "2025-04-01T21:06:00Z", "mes": text})
    return "\n".join(json.dumps(line) for line in lines)


def sillytavern_folder(root: Path) -> Path:
    """SillyTavern 1.12's layout: data/default-user/{characters,chats,groups,group chats,worlds}."""
    user = root / "data" / "default-user"
    for sub in ("characters", "chats/Mira", "chats/Aria", "chats/Nobody", "groups", "group chats", "worlds"):
        (user / sub).mkdir(parents=True)
    shutil.copy(CARDS / "v1_mira.json", user / "characters" / "Mira.json")
    shutil.copy(CARDS / "v3_aria.png", user / "characters" / "Aria.png")
    (user / "characters" / "broken.png").write_bytes(b"not a card")
    (user / "chats" / "Mira" / "Mira - 2025-04-01@21h05m09s.jsonl").write_text(
        chat_lines("Mira", "Welcome back.", "Hi Mira, my cat is called Miso.", "What a lovely name.", world="Eldoria")
    )
    (user / "chats" / "Aria" / "Aria - 1.jsonl").write_text(chat_lines("Aria", "Hello, traveller.", "Hi!"))
    (user / "chats" / "Nobody" / "Nobody - 1.jsonl").write_text(chat_lines("Nobody", "Hm."))
    (user / "groups" / "1700000000.json").write_text(
        json.dumps({"name": "Tavern", "members": ["Mira.json", "Aria.png"], "chats": ["1700000001", "1700000009"]})
    )
    (user / "group chats" / "1700000001.jsonl").write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {"user_name": "Ren", "character_name": "unused"},
                {"name": "Mira", "is_user": False, "mes": "Mira waves."},
                {"name": "Ren", "is_user": True, "mes": "Hello both."},
                {"name": "Aria Windsong", "is_user": False, "mes": "Aria bows."},
            ]
        )
    )
    shutil.copy(LOREBOOKS / "Eldoria.json", user / "worlds" / "Eldoria.json")
    settings = {
        "power_user": {
            "personas": {"user-default.png": "Ren", "knight.png": "Sir Ren"},
            "persona_descriptions": {
                "knight.png": {"description": "A knight of the realm.", "position": 0, "lorebook": "Eldoria"}
            },
            "default_persona": "knight.png",
        },
        "world_info_settings": {"world_info": {"globalSelect": ["Eldoria", "Lost"]}},  # "Lost": no such file
    }
    (user / "settings.json").write_text(json.dumps(settings))
    return root


def test_a_sillytavern_library_comes_over_whole(tmp_path: Path) -> None:
    install = sillytavern_folder(tmp_path / "SillyTavern")
    assert runner.invoke(app, ["user", "create", OWNER, "--password", "correct horse battery"]).exit_code == 0

    result = runner.invoke(app, ["migrate", "sillytavern", str(install), "--owner", OWNER])
    assert result.exit_code == 1, result.output  # the broken card, the chat of a card that is not there, "Lost"
    assert (
        "imported 2 characters, 2 chats, 1 group chats, 1 lorebooks and 2 personas (3 lorebooks switched on); "
        "3 files refused" in result.stdout
    )
    assert "characters/broken.png" in result.output and "no character card named 'Nobody'" in result.output
    assert "worlds/Lost.json" in result.output

    from bostonia.config import load_settings
    from bostonia.db import connect

    conn = connect(load_settings().database_path)
    owner = conn.execute("select id from users where email = ?", (OWNER,)).fetchone()["id"]
    chats = conn.execute(
        "select ch.name, (select count(*) from messages m where m.conversation_id = c.id) as message_count"
        " from conversations c join characters ch on ch.id = c.character_id where c.user_id = ?",
        (owner,),
    ).fetchall()
    personas = conn.execute("select name, description, is_default from personas where user_id = ?", (owner,)).fetchall()
    books = conn.execute("select name from lorebooks where owner_id = ? and character_id is null", (owner,)).fetchall()
    links = conn.execute(
        "select l.user_id is not null as everywhere, p.name as persona, c.title as chat from lorebook_links l"
        " join lorebooks b on b.id = l.lorebook_id left join personas p on p.id = l.persona_id"
        " left join conversations c on c.id = l.conversation_id where b.name = 'Eldoria'"
    ).fetchall()
    conn.close()
    assert sorted((bool(r["everywhere"]), r["persona"] or "", r["chat"] or "") for r in links) == [
        (False, "", "Hi Mira, my cat is called Miso."),  # the chat that had switched it on for itself
        (False, "Sir Ren", ""),
        (True, "", ""),  # SillyTavern's global selection
    ]
    assert sorted((r["name"], r["message_count"]) for r in chats) == [
        ("Aria Windsong", 2),
        ("Mira Quill", 3),
        ("Mira Quill", 3),  # the group chat, led by its first member
    ]
    assert {(p["name"], p["description"], bool(p["is_default"])) for p in personas} == {
        ("Ren", "", False),
        ("Sir Ren", "A knight of the realm.", True),
    }
    assert [b["name"] for b in books] == ["Eldoria"]

    # Again, with a chat added meanwhile: only that one comes over; cards are recognised, personas kept.
    user = install / "data" / "default-user"
    (user / "chats" / "Mira" / "Mira - 2.jsonl").write_text(chat_lines("Mira Quill", "Back again?"))
    again = runner.invoke(app, ["migrate", "sillytavern", str(user), "--owner", OWNER])
    assert "imported 0 characters, 1 chats, 0 group chats, 0 lorebooks and 0 personas" in again.stdout
    assert "4 chats and lorebooks were brought over before" in again.stdout


def test_a_folder_that_is_not_sillytavern_is_a_clear_error(tmp_path: Path) -> None:
    assert runner.invoke(app, ["user", "create", OWNER, "--password", "correct horse battery"]).exit_code == 0
    result = runner.invoke(app, ["migrate", "sillytavern", str(tmp_path), "--owner", OWNER])
    assert result.exit_code == 1 and "no SillyTavern data" in result.output
    missing_owner = runner.invoke(app, ["migrate", "sillytavern", str(tmp_path)])
    assert missing_owner.exit_code == 2
