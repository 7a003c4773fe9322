"""Card import and export: files in every format creators bring, out as PNG (chara + ccv3), JSON or CharX.

Importing is two steps. `prepare` parses and validates one file completely (card, embedded lorebook,
picture re-encoded) without touching storage; only files that passed are then stored, each with its
lorebook and assets in one transaction. So a rejected file stores nothing, and one bad file in a batch
does not stop the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import msgspec

from bostonia.cards.charx import write_charx
from bostonia.cards.model import CharacterCard, card_json, derived_tagline
from bostonia.cards.png import embed_card
from bostonia.cards.reader import CardFile, CardLimits, LorebookFile, read_card_file
from bostonia.characters.media import ImageLimits, MediaStore, ProcessedImage, placeholder_png, process_image
from bostonia.characters.schemas import (
    VISIBILITIES,
    Character,
    ImportedLorebook,
    check_free_form_sizes,
    sampler_settings,
)
from bostonia.characters.service import CharacterService
from bostonia.characters.store import CharacterRecord, CharacterStore
from bostonia.config import UploadsConfig
from bostonia.db.values import new_id
from bostonia.errors import BostoniaError, InvalidInput, PermissionDenied
from bostonia.identity import CONTENT_TIERS, Operator, User
from bostonia.lore.convert import book_from_card, book_from_file, book_to_card
from bostonia.lore.schemas import Lorebook
from bostonia.lore.store import LorebookStore
from bostonia.ui.filters import avatar_hue

log = logging.getLogger(__name__)
ExportFormat = Literal["png", "json", "charx"]
MEDIA_TYPES = {"png": "image/png", "json": "application/json", "charx": "application/zip"}
ADULT_TAGS = {"nsfw", "adult", "explicit", "18+", "r18", "smut"}
ICON_PATH = "assets/icon/images/main.png"
# Characters written per transaction when importing many files.
BATCH = 100


class PreparedCharacter(NamedTuple):
    file: str
    format: str
    record: CharacterRecord
    image: ProcessedImage | None
    assets: dict[str, bytes]


class PreparedLorebook(NamedTuple):
    file: str
    format: str
    book: Lorebook


class AlreadyImported(NamedTuple):
    """A card the owner imported before: reported with the character it became, not stored again."""

    format: str
    character: Character


Prepared = PreparedCharacter | PreparedLorebook


class ImportOutcome(msgspec.Struct, kw_only=True):
    """What happened to each file, in upload order: a character, a lorebook, a duplicate, or an error."""

    characters: list[tuple[str, str, Character]] = msgspec.field(default_factory=list)  # (file, format, character)
    # Cards the owner already imported: (file, format, the existing character); imported again only if asked.
    duplicates: list[tuple[str, str, Character]] = msgspec.field(default_factory=list)
    lorebooks: list[tuple[str, str, ImportedLorebook]] = msgspec.field(default_factory=list)
    failures: list[tuple[str, BostoniaError]] = msgspec.field(default_factory=list)
    order: list[tuple[str, str, int]] = msgspec.field(default_factory=list)  # (file, kind, index in its list)


def card_digest(card: CharacterCard, image: ProcessedImage | None) -> str:
    """Names a card file's content: the same card (with the same picture) gives the same digest."""
    digest = hashlib.sha256(msgspec.json.encode(card, order="sorted"))
    digest.update((image.digest if image else "").encode())
    return digest.hexdigest()


def ours(extensions: dict[str, Any]) -> dict[str, Any]:
    value = extensions.get("bostonia")
    return value if isinstance(value, dict) else {}


def content_tier_for(card: CharacterCard, requested: str | None) -> str:
    """The importer's choice, else what a Bostonia export recorded, else adult when the tags say so."""
    if requested:
        return requested
    recorded = ours(card.extensions).get("content_tier")
    if recorded in CONTENT_TIERS:
        return str(recorded)
    return "adult" if {t.lower() for t in card.tags} & ADULT_TAGS else "sfw"


def settings_from(card: CharacterCard) -> dict[str, Any]:
    raw = ours(card.extensions).get("settings")
    return {} if raw is None else sampler_settings(raw, "extensions.bostonia.settings")


def with_picture_icon(declared: Any) -> list[dict[str, Any]] | None:
    """The card's asset list pointing its main icon at our picture inside the CharX (no list: a list with just
    that icon; `ccdefault:` means "the card's own image", which a zip does not have). None: leave it alone."""
    icon = {"type": "icon", "uri": f"embeded://{ICON_PATH}", "name": "main", "ext": "png"}
    if declared is None:
        return [icon]
    if not isinstance(declared, list):
        return None
    for index, asset in enumerate(declared):
        if isinstance(asset, dict) and asset.get("type") == "icon" and asset.get("uri") == "ccdefault:":
            return [*declared[:index], {**asset, "uri": icon["uri"], "ext": "png"}, *declared[index + 1 :]]
    return None


class CardTransfer:
    def __init__(
        self,
        characters: CharacterService,
        store: CharacterStore,
        lorebooks: LorebookStore,
        media: MediaStore,
        uploads: UploadsConfig,
    ) -> None:
        self.characters = characters
        self.store = store
        self.lorebooks = lorebooks
        self.media = media
        self.uploads = uploads
        self.card_limits = CardLimits.from_config(uploads)
        self.image_limits = ImageLimits(uploads.max_avatar_bytes, uploads.max_image_pixels)
        self._threads = asyncio.Semaphore(max(1, os.cpu_count() or 1))

    async def embedded_book(self, character_id: str) -> dict[str, Any] | None:
        """The character's embedded lorebook as a card's `character_book` (the builder edits it so)."""
        book = await self.lorebooks.for_character(character_id)
        return book_to_card(book) if book else None

    # -- import ------------------------------------------------------------------------------------

    def prepare(
        self, filename: str, data: bytes, *, owner_id: str | None, visibility: str, content_tier: str | None
    ) -> Prepared:
        """Parse and validate one file completely; nothing is stored. Raises a domain error naming the problem."""
        parsed = read_card_file(filename, data, self.card_limits)
        if isinstance(parsed, LorebookFile):
            return PreparedLorebook(filename, parsed.format, book_from_file(parsed.book, parsed.format, parsed.name))
        return self._prepare_card(filename, parsed, owner_id, visibility, content_tier)

    def _prepare_card(
        self, filename: str, parsed: CardFile, owner_id: str | None, visibility: str, content_tier: str | None
    ) -> PreparedCharacter:
        card = parsed.card
        check_free_form_sizes(
            {"extensions": card.extensions, "card_extra": card.extra, "character_book": card.character_book}
        )
        book = book_from_card(card.character_book) if card.character_book is not None else None
        image = None
        if parsed.image is not None:
            try:
                image = process_image(parsed.image, self.image_limits)
            except BostoniaError:
                if parsed.format == "png":
                    raise  # the picture is the file: a broken one is a broken card
                log.info("%s %s: its picture is not a usable image; imported without one", parsed.format, filename)
        record = CharacterRecord(
            id=new_id(),
            card=card,
            card_digest=card_digest(card, image),
            creator_id=owner_id,
            tagline=card.tagline[:300],
            visibility=visibility,
            content_tier=content_tier_for(card, content_tier),
            settings=settings_from(card),
            book=book,
        )
        return PreparedCharacter(filename, parsed.format, record, image, parsed.assets)

    async def _prepare_async(
        self, filename: str, data: bytes, owner_id: str | None, visibility: str, content_tier: str | None
    ) -> Prepared | BostoniaError:
        async with self._threads:
            try:
                return await asyncio.to_thread(
                    self.prepare, filename, data, owner_id=owner_id, visibility=visibility, content_tier=content_tier
                )
            except BostoniaError as exc:
                return exc

    async def import_files(
        self,
        owner: User | None,
        files: Sequence[tuple[str, bytes]],
        *,
        visibility: str = "private",
        content_tier: str | None = None,
        progress: Callable[[int], None] | None = None,
        duplicates: bool = False,
    ) -> ImportOutcome:
        """Import every file on its own: each becomes a character or a lorebook, or an error. `owner` None
        (the CLI without --owner) makes characters nobody's: only admins may change them. A card the owner
        already imported (same card, same picture) is reported as a duplicate instead, unless `duplicates`."""
        if visibility not in VISIBILITIES:
            raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}", details={"field": "visibility"})
        if content_tier is not None and content_tier not in CONTENT_TIERS:
            raise InvalidInput(f"content_tier must be one of {', '.join(CONTENT_TIERS)}")
        owner_id = owner.id if owner else None
        outcome = ImportOutcome()
        for start in range(0, len(files), BATCH):
            batch = files[start : start + BATCH]
            prepared = await asyncio.gather(
                *(self._prepare_async(name, data, owner_id, visibility, content_tier) for name, data in batch)
            )
            named = list(zip((name for name, _ in batch), prepared, strict=True))
            results = named if duplicates else await self._set_aside_duplicates(owner_id, named)
            await self._store(owner, list(results), outcome)
            if progress:
                progress(len(batch))
        if outcome.characters:
            self.characters.catalogue_changed()
        return outcome

    async def _set_aside_duplicates(
        self, owner_id: str | None, batch: list[tuple[str, Prepared | BostoniaError]]
    ) -> list[tuple[str, Prepared | AlreadyImported | BostoniaError]]:
        """The batch with cards the owner already has marked `AlreadyImported`, and a card that comes twice
        in one upload an error naming its twin."""
        digests = {p.record.card_digest for _, p in batch if isinstance(p, PreparedCharacter) and p.record.card_digest}
        existing = await self.store.with_digests(owner_id, sorted(digests))
        found = await self.store.get_many(sorted(set(existing.values()))) if existing else {}
        first_in_batch: dict[str, str] = {}
        marked: list[tuple[str, Prepared | AlreadyImported | BostoniaError]] = []
        for name, prepared in batch:
            digest = prepared.record.card_digest if isinstance(prepared, PreparedCharacter) else None
            if digest is None or not isinstance(prepared, PreparedCharacter):
                marked.append((name, prepared))
            elif existing.get(digest) in found:
                marked.append((name, AlreadyImported(prepared.format, found[existing[digest]])))
            elif digest in first_in_batch:
                twin = InvalidInput(f"the same card as {first_in_batch[digest]}", code="duplicate_file")
                marked.append((name, twin))
            else:
                first_in_batch[digest] = name
                marked.append((name, prepared))
        return marked

    async def _store(
        self,
        owner: User | None,
        batch: list[tuple[str, Prepared | AlreadyImported | BostoniaError]],
        out: ImportOutcome,
    ) -> None:
        screened: list[tuple[str, Prepared | AlreadyImported | BostoniaError]] = []
        for name, prepared in batch:  # a card's picture is its avatar: it is looked at like an upload
            if isinstance(prepared, PreparedCharacter) and prepared.image is not None:
                try:
                    await self.characters.screen_avatar(owner, prepared.image, prepared.record.content_tier)
                except BostoniaError as exc:
                    prepared = exc
            screened.append((name, prepared))
        batch = screened
        cards: list[PreparedCharacter] = [p for _, p in batch if isinstance(p, PreparedCharacter)]
        for item in cards:  # content-addressed files first: harmless if the insert then fails
            if item.image is not None:
                item.record.avatar_path = await asyncio.to_thread(self.media.save_avatar, item.image)
            item.record.assets = [
                (path, await asyncio.to_thread(self.media.save_asset, content), len(content))
                for path, content in item.assets.items()
            ]
        stored: set[str] = set()
        try:
            await self.store.insert([item.record for item in cards])
            stored = {item.record.id for item in cards}
        except Exception:  # isolate the culprit: store one by one
            log.exception("batch insert failed; importing the files one by one")
            for item in cards:
                try:
                    await self.store.insert([item.record])
                    stored.add(item.record.id)
                except Exception as exc:
                    log.exception("storing %s failed", item.file)
                    error = InvalidInput(f"could not store the card: {exc}", code="store_failed")
                    batch = [(name, error if prepared is item else prepared) for name, prepared in batch]
        found = await self.store.get_many(sorted(stored))
        for name, outcome in batch:
            if isinstance(outcome, BostoniaError):
                out.order.append((name, "error", len(out.failures)))
                out.failures.append((name, outcome))
            elif isinstance(outcome, AlreadyImported):
                out.order.append((name, "duplicate", len(out.duplicates)))
                out.duplicates.append((name, outcome.format, outcome.character))
            elif isinstance(outcome, PreparedCharacter) and outcome.record.id in found:
                out.order.append((name, "character", len(out.characters)))
                out.characters.append((name, outcome.format, found[outcome.record.id]))
            elif isinstance(outcome, PreparedLorebook):
                book_id = await self.lorebooks.create(outcome.book, owner_id=owner.id if owner else None)
                imported = ImportedLorebook(
                    id=book_id, name=outcome.book.name, file=name, entry_count=len(outcome.book.entries)
                )
                out.order.append((name, "lorebook", len(out.lorebooks)))
                out.lorebooks.append((name, outcome.format, imported))

    # -- export --------------------------------------------------------------------------------------

    async def card_for(self, character: Character) -> CharacterCard:
        """The character as a card: every stored card field, the embedded lorebook rebuilt, and Bostonia's own
        fields (tagline, sampler settings, content tier) under `extensions.bostonia` when they say something."""
        extra, top_level = await self.store.card_parts(character.id)
        book = await self.lorebooks.for_character(character.id)
        extensions = dict(character.extensions)
        mine = dict(ours(extensions))
        if character.tagline != derived_tagline(character.creator_notes, character.description) or "tagline" in mine:
            mine["tagline"] = character.tagline
        if character.settings or "settings" in mine:
            mine["settings"] = character.settings
        if character.content_tier != "sfw" or "content_tier" in mine:
            mine["content_tier"] = character.content_tier
        if mine:
            extensions["bostonia"] = mine
        return CharacterCard(
            name=character.name,
            description=character.description,
            personality=character.personality,
            scenario=character.scenario,
            first_mes=character.greeting,
            mes_example=character.example_dialogue,
            creator_notes=character.creator_notes,
            system_prompt=character.system_prompt,
            post_history_instructions=character.post_history_instructions,
            creator=character.creator_name,
            character_version=character.character_version,
            alternate_greetings=list(character.alternate_greetings),
            tags=list(character.tags),
            extensions=extensions,
            character_book=book_to_card(book) if book is not None else None,
            extra=extra,
            top_level=top_level,
        )

    async def export(
        self,
        viewer: User | Operator | None,
        character_id: str,
        fmt: ExportFormat = "png",
        spec: Literal["v2", "v3"] = "v3",
    ) -> tuple[bytes, str, Character]:
        """(file bytes, media type, character). Premium characters leave only through their creator or an admin."""
        character = await self.characters.get(viewer, character_id)
        if character.is_premium and not self.characters.can_edit(viewer, character):
            raise PermissionDenied("premium characters can only be exported by their creator")
        card = await self.card_for(character)
        if fmt == "json":
            return msgspec.json.encode(card_json(card, spec)), MEDIA_TYPES[fmt], character
        v3 = msgspec.json.encode(card_json(card, "v3"))
        if fmt == "png":
            picture = await asyncio.to_thread(self._picture, character)
            v2 = msgspec.json.encode(card_json(card, "v2"))
            return embed_card(picture, {"chara": v2, "ccv3": v3}), MEDIA_TYPES[fmt], character
        if fmt == "charx":
            assets = {}
            for path, digest in await self.store.assets(character.id):
                content = await asyncio.to_thread(self.media.read_asset, digest)
                if content is not None:
                    assets[path] = content
            if character.avatar_url and ICON_PATH not in assets:  # a `ccdefault:` icon: the picture goes in
                icons = with_picture_icon(card.extra.get("assets"))
                if icons is not None:
                    assets[ICON_PATH] = await asyncio.to_thread(self._picture, character)
                    card.extra = {**card.extra, "assets": icons}
                    v3 = msgspec.json.encode(card_json(card, "v3"))
            return write_charx(v3, assets), MEDIA_TYPES[fmt], character
        raise InvalidInput(f"unknown export format {fmt!r}; use png, json or charx", details={"field": "format"})

    def _picture(self, character: Character) -> bytes:
        if character.avatar_url:
            path = character.avatar_url.removeprefix("/media/avatars/")
            stored = self.media.read_avatar(path)
            if stored is not None:
                return stored
        return placeholder_png(character.name, avatar_hue(character.name))
