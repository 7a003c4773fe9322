"""`bostonia migrate sillytavern DIR --owner EMAIL`: a SillyTavern user's whole library, in one command.

SillyTavern keeps a user's data in folders (`data/<user>/` since 1.12, `public/` before): `characters/`
(cards), `chats/<card file name>/*.jsonl` (each card's chats), `worlds/` (World Info), `groups/` with
`group chats/`, and `settings.json` (personas). Everything comes over as the account's own: characters
and lorebooks through the card importer (a card imported before is recognised and reused), each chat as
a conversation with its character, each group chat with its members, each persona with its description.
The World Info a user had switched on comes on again: the global selection (`settings.json`), a chat's own
lorebook (its `chat_metadata.world_info`) and a persona's (`persona_descriptions[...].lorebook`) are attached
to the account, the conversation and the persona. Run again, it brings over only what is new (a chat file
imported before, by its content; a world of a name the account has a book of). Every file stands alone; the
command lists what it refused and exits 1 if anything was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from bostonia.commands.characters import CARD_SUFFIXES
from bostonia.commands.common import OPERATOR, fail, read_capped, report_refused, run_with_services
from bostonia.errors import BostoniaError
from bostonia.lore.schemas import LinkIn, LinkScope
from bostonia.personas.schemas import CreatePersona

if TYPE_CHECKING:
    from bostonia.app import Services
    from bostonia.users.schemas import User

migrate_app = typer.Typer(help="Bring a library over from another program.", no_args_is_help=True)
# Where SillyTavern's folders are, from what a user would point at: the user's folder itself, the install
# (1.12+: data/default-user), or an older install (public/).
LAYOUTS = (".", "data/default-user", "default-user", "public")


@dataclass
class Migrated:
    characters: int = 0
    lorebooks: int = 0
    chats: int = 0
    group_chats: int = 0
    personas: int = 0
    lore_links: int = 0  # lorebooks switched on for the account, a chat or a persona, as they were
    already: int = 0  # chats and lorebooks an earlier run brought over
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


def user_folder(path: Path) -> Path | None:
    """The folder holding `characters/` (and the rest), from the install or the user's folder."""
    for layout in LAYOUTS:
        candidate = path / layout
        if (candidate / "characters").is_dir():
            return candidate
    return None


def _files(folder: Path, suffixes: set[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


@migrate_app.command("sillytavern")
def migrate_sillytavern(
    path: Annotated[Path, typer.Argument(help="SillyTavern's folder (the install, or data/<user>).")],
    owner: Annotated[str, typer.Option(help="Email or id of the account that gets everything.")],
) -> None:
    """Import a SillyTavern user's characters, chats, group chats, World Info and personas."""
    folder = user_folder(path)
    if folder is None:
        raise fail(f"no SillyTavern data in {path}: expected a characters/ folder there or in data/default-user/")

    async def run(services: Services) -> Migrated:
        user = await services.users.find(owner, actor=OPERATOR)
        done = Migrated()
        stems = await _characters(services, user, folder, done)
        await _lorebooks(services, user, folder, done)
        lore = WorldInfo(services, user, {b.name: b.id for b in await services.lore.list(user) if not b.character_id})
        await _chats(services, user, folder, stems, done, lore)
        await _group_chats(services, user, folder, stems, done, lore)
        settings = _json_object(folder / "settings.json") if (folder / "settings.json").is_file() else None
        await _personas(services, user, settings, done, lore)
        await lore.switch_on(_global_worlds(settings), "global", None)
        done.lore_links = lore.links
        done.refused += lore.refused
        return done

    done = run_with_services(run)
    typer.echo(
        f"imported {done.characters} characters, {done.chats} chats, {done.group_chats} group chats, "
        f"{done.lorebooks} lorebooks and {done.personas} personas ({done.lore_links} lorebooks switched on); "
        f"{len(done.refused)} files refused"
        + (f"; {done.already} chats and lorebooks were brought over before" if done.already else "")
    )
    report_refused(done.refused)


async def _characters(services: Services, user: User, folder: Path, done: Migrated) -> dict[str, str]:
    """Import the cards; returns card file name without its suffix (SillyTavern's name for the character's
    chat folder and group member) -> character id, new or already imported."""
    cards = _files(folder / "characters", CARD_SUFFIXES)
    limit = services.settings.uploads.max_card_bytes
    stems: dict[str, str] = {}
    with typer.progressbar(cards, label="Characters", show_pos=True) as bar:
        for card in bar:
            outcome = await services.transfer.import_files(user, [(card.name, read_capped(card, limit))])
            for _, _, character in [*outcome.characters, *outcome.duplicates]:
                stems[card.stem] = character.id
            done.characters += len(outcome.characters)
            done.refused += [(f"characters/{name}", error.message) for name, error in outcome.failures]
    return stems


async def _lorebooks(services: Services, user: User, folder: Path, done: Migrated) -> None:
    """World Info files; one whose name (SillyTavern names a world by its file) the account has a book of
    already is left as it is."""
    limit = services.settings.uploads.max_card_bytes
    have = {b.name for b in await services.lore.list(user) if b.character_id is None}
    for book in _files(folder / "worlds", {".json"}):
        if book.stem in have:
            done.already += 1
            continue
        outcome = await services.transfer.import_files(user, [(book.name, read_capped(book, limit))])
        done.lorebooks += len(outcome.lorebooks)
        done.refused += [(f"worlds/{name}", error.message) for name, error in outcome.failures]


@dataclass
class WorldInfo:
    """Attaches the user's migrated World Info (by SillyTavern's name for it: the file's) where it was on."""

    services: Services
    user: User
    books: dict[str, str]  # name -> id of the user's standalone lorebooks
    links: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)

    async def switch_on(self, names: list[str], scope: LinkScope, target_id: str | None) -> None:
        for name in names:
            book = self.books.get(name)
            if book is None:
                self.refused.append((f"worlds/{name}.json", f"switched on for a {scope} scope but not imported"))
                continue
            await self.services.lore.attach(self.user, book, LinkIn(scope=scope, target_id=target_id))
            self.links += 1


def _global_worlds(settings: dict[str, Any] | None) -> list[str]:
    """`world_info_settings.world_info.globalSelect` (1.11+; at `world_info_settings.globalSelect` before)."""
    wi = settings.get("world_info_settings") if settings else None
    if not isinstance(wi, dict):
        return []
    selected = (
        wi["world_info"].get("globalSelect") if isinstance(wi.get("world_info"), dict) else wi.get("globalSelect")
    )
    return [name for name in selected if isinstance(name, str) and name] if isinstance(selected, list) else []


def _chat_world(chat: Path) -> list[str]:
    """The lorebook a SillyTavern chat file switched on for itself (its header's `chat_metadata.world_info`)."""
    try:
        with chat.open(encoding="utf-8-sig") as handle:
            header = json.loads(handle.readline() or "{}")
    except (OSError, ValueError):
        return []
    metadata = header.get("chat_metadata") if isinstance(header, dict) else None
    name = metadata.get("world_info") if isinstance(metadata, dict) else None
    return [name] if isinstance(name, str) and name else []


async def _chats(
    services: Services, user: User, folder: Path, stems: dict[str, str], done: Migrated, lore: WorldInfo
) -> None:
    chats = folder / "chats"
    files = [f for d in sorted(chats.iterdir()) if d.is_dir() for f in _files(d, {".jsonl"})] if chats.is_dir() else []
    with typer.progressbar(files, label="Chats", show_pos=True) as bar:
        for chat in bar:
            name = f"chats/{chat.parent.name}/{chat.name}"
            character = stems.get(chat.parent.name)
            if character is None:
                done.refused.append((name, f"no character card named {chat.parent.name!r} was imported"))
                continue
            if conversation := await _import_chat(services, user, [character], chat, name, done):
                done.chats += 1
                await lore.switch_on(_chat_world(chat), "conversation", conversation)


async def _group_chats(
    services: Services, user: User, folder: Path, stems: dict[str, str], done: Migrated, lore: WorldInfo
) -> None:
    """`groups/<id>.json` names its members by card file and its chats by id (`group chats/<id>.jsonl`)."""
    for group_file in _files(folder / "groups", {".json"}):
        group = _json_object(group_file)
        if group is None:
            done.refused.append((f"groups/{group_file.name}", "not a SillyTavern group (a JSON object)"))
            continue
        members = [stems.get(str(m).rsplit(".", 1)[0]) for m in group.get("members") or []]
        found = [m for m in members if m]
        chat_ids = [str(c) for c in group.get("chats") or [group.get("chat_id")] if c]
        for chat_id in chat_ids:
            chat = folder / "group chats" / f"{chat_id}.jsonl"
            name = f"group chats/{chat.name}"
            if not chat.is_file():
                continue  # listed but never written (an empty group chat)
            if len(found) < 2:
                done.refused.append((name, "fewer than two of the group's characters were imported"))
            elif conversation := await _import_chat(services, user, found, chat, name, done):
                done.group_chats += 1
                await lore.switch_on(_chat_world(chat), "conversation", conversation)


async def _import_chat(
    services: Services, user: User, characters: list[str], chat: Path, name: str, done: Migrated
) -> str | None:
    """Import one chat file: the new conversation's id (None: refused, or brought over by an earlier run and
    left as it is)."""
    data = chat.read_bytes()
    if await services.chat.imported_before(user, data):
        done.already += 1
        return None
    try:
        conversation = await services.chat.import_chat(user, characters if len(characters) > 1 else characters[0], data)
    except BostoniaError as exc:
        done.refused.append((name, exc.message))
        return None
    return conversation.id


async def _personas(
    services: Services, user: User, settings: dict[str, Any] | None, done: Migrated, lore: WorldInfo
) -> None:
    """`settings.json`'s `power_user.personas` (avatar file -> name) and `persona_descriptions` (with the
    persona's own lorebook); a persona of the same name the account has already is left as it is."""
    power = settings.get("power_user") if settings else None
    if not isinstance(power, dict) or not isinstance(power.get("personas"), dict):
        return
    descriptions = power.get("persona_descriptions")
    descriptions = descriptions if isinstance(descriptions, dict) else {}
    existing = {p.name for p in await services.personas.list(user)}
    for avatar, persona_name in power["personas"].items():
        if not isinstance(persona_name, str) or not persona_name.strip() or persona_name.strip() in existing:
            continue
        about = descriptions.get(avatar)
        text = about.get("description") if isinstance(about, dict) else None
        try:  # the API's own rules (name 1-64 characters, description at most 4,000)
            persona = msgspec.convert(
                {
                    "name": persona_name.strip(),
                    "description": text if isinstance(text, str) else "",
                    "is_default": avatar == power.get("default_persona"),
                },
                CreatePersona,
            )
            created = await services.personas.create(user, msgspec.structs.asdict(persona))
        except (msgspec.ValidationError, BostoniaError) as exc:
            done.refused.append((f"settings.json persona {persona_name!r}", getattr(exc, "message", str(exc))))
            continue
        existing.add(persona.name)
        done.personas += 1
        book = about.get("lorebook") if isinstance(about, dict) else None
        await lore.switch_on([book] if isinstance(book, str) and book else [], "persona", created.id)


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
