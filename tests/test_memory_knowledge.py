"""Knowledge files: attached to a chat, a persona or a character, chunked, found by the same search."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from bostonia.app import Services
from bostonia.memory.knowledge import chunk_text
from tests.helpers import bearer, error_of
from tests.test_memory_recall import start_chat

KNOWLEDGE = "/api/v1/knowledge"
NOTES = (
    "# The valley\n\nThe old mill by the river was built in 1820 and burned down in the great fire.\n\n"
    "## People\n\nThe miller's daughter, Ilse, keeps bees behind the chapel and sells honey on Sundays."
)


def upload(
    client: TestClient[Any], account: dict[str, Any], scope: str, scope_id: str, body: bytes, name: str = "notes.md"
) -> Any:
    return client.post(
        KNOWLEDGE,
        data={"scope": scope, "scope_id": scope_id},
        files={"file": (name, body, "text/markdown")},
        headers=bearer(account),
    )


def test_chunks_cut_at_paragraphs_and_overlap() -> None:
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 60 for n in range(10))
    chunks = chunk_text(text, size=500, overlap=50)
    assert all(len(c) <= 560 for c in chunks) and len(chunks) >= 6
    assert chunks[1].split()[0] == "word"  # starts with the tail of the chunk before
    assert chunk_text("   ") == []
    long_word = chunk_text("x" * 2000, size=800)
    assert len(long_word[0]) == 800 and max(len(c) for c in long_word) <= 800 + 120 + 1


def test_a_chat_finds_what_its_files_say(
    client: TestClient[Any], services: Services, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    conversation = start_chat(client, alice)
    character = client.get(f"/api/v1/conversations/{conversation}", headers=bearer(alice)).json()["character_id"]
    created = upload(client, alice, "character", character, NOTES.encode())
    assert created.status_code == 201, created.text
    file = created.json()
    assert file["chunks"] >= 1 and file["name"] == "notes.md" and file["scope"] == "character"
    items = client.get(
        f"/api/v1/memory/{conversation}/search", params={"q": "who sells honey?"}, headers=bearer(alice)
    ).json()["items"]
    assert items[0]["memory_type"] == "knowledge" and "Ilse" in items[0]["content"] and items[0]["source"] == "notes.md"
    listed = client.get(KNOWLEDGE, params={"scope": "character", "scope_id": character}, headers=bearer(alice)).json()
    assert [f["id"] for f in listed["items"]] == [file["id"]]

    # Bob chats with the same character: Alice's files are hers alone.
    other = start_chat(client, bob)
    theirs = client.get(f"/api/v1/memory/{other}/search", params={"q": "who sells honey?"}, headers=bearer(bob)).json()
    assert not [i for i in theirs["items"] if i["memory_type"] == "knowledge"]
    assert (
        client.get(KNOWLEDGE, params={"scope": "character", "scope_id": character}, headers=bearer(bob)).json()["items"]
        == []
    )
    assert client.delete(f"{KNOWLEDGE}/{file['id']}", headers=bearer(bob)).status_code == 404

    assert client.delete(f"{KNOWLEDGE}/{file['id']}", headers=bearer(alice)).status_code == 204
    items = client.get(f"/api/v1/memory/{conversation}/search", params={"q": "honey"}, headers=bearer(alice)).json()[
        "items"
    ]
    assert not [i for i in items if i["memory_type"] == "knowledge"]
    counts = services.db.read_sync(
        lambda conn: [
            conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("knowledge_chunks", "knowledge_vectors")
        ]
    )
    assert counts == [0, 0]


def test_files_are_checked(client: TestClient[Any], alice: dict[str, Any], bob: dict[str, Any]) -> None:
    conversation = start_chat(client, alice)
    assert upload(client, bob, "conversation", conversation, b"hi").status_code == 404  # not Bob's chat
    for scope, body, name in (
        ("galaxy", b"text", "a.txt"),
        ("conversation", b"", "a.txt"),
        ("conversation", b"\xff\xfe\x00binary", "a.txt"),
        ("conversation", b"text", "a.exe"),
    ):
        response = upload(client, alice, scope, conversation, body, name)
        assert response.status_code == 422, (scope, name, response.text)
        assert error_of(response)["code"]
    assert upload(client, alice, "conversation", conversation, b"x" * (1024 * 1024 + 10), "big.txt").status_code == 413
    assert upload(client, alice, "conversation", conversation, NOTES.encode()).status_code == 201
