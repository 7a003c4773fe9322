"""The catalogue over HTTP: characters, search, trending, ratings, avatars, card import and export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody

from bostonia.analytics.deps import Analytics
from bostonia.characters.deps import Characters, Transfer
from bostonia.characters.schemas import (
    Character,
    CharacterCreate,
    CharacterList,
    CharacterPage,
    CharacterUpdate,
    ImportedFile,
    ImportFailure,
    ImportResult,
    Rate,
    RatingSummary,
    ReviewPage,
    Sort,
    Visibility,
)
from bostonia.characters.transfer import CardTransfer, ExportFormat, ImportOutcome
from bostonia.config import Settings
from bostonia.errors import InvalidInput, PayloadTooLarge
from bostonia.http.deps import Config, CurrentUser, Viewer
from bostonia.http.downloads import attachment
from bostonia.http.errors import status_for
from bostonia.identity import ContentTier, User


@dataclass
class CardUpload:
    """One or many card/lorebook files in the field `file`."""

    file: list[UploadFile]
    visibility: Visibility = "private"
    content_tier: ContentTier | None = None
    # A card already imported by the same account is reported (kind "duplicate"), not imported again,
    # unless this is set.
    duplicates: bool = False


@dataclass
class ImageUpload:
    file: UploadFile


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """At most `limit + 1` bytes: enough for the reader to tell the file is too large, no more."""
    return await upload.read(limit + 1)


def import_result(outcome: ImportOutcome) -> ImportResult:
    failures = [
        ImportFailure(file=name, status=status_for(exc), code=exc.code, message=exc.message, details=exc.details)
        for name, exc in outcome.failures
    ]
    files = []
    for name, kind, index in outcome.order:
        if kind == "character":
            _, fmt, character = outcome.characters[index]
            files.append(ImportedFile(file=name, kind="character", id=character.id, format=fmt))
        elif kind == "lorebook":
            _, fmt, book = outcome.lorebooks[index]
            files.append(ImportedFile(file=name, kind="lorebook", id=book.id, format=fmt))
        elif kind == "duplicate":
            _, fmt, existing = outcome.duplicates[index]
            files.append(ImportedFile(file=name, kind="duplicate", id=existing.id, format=fmt))
        else:
            files.append(ImportedFile(file=name, kind="error", error=failures[index].message))
    return ImportResult(
        items=[c for _, _, c in outcome.characters],
        lorebooks=[b for _, _, b in outcome.lorebooks],
        errors=failures,
        files=files,
    )


def raise_if_nothing_imported(outcome: ImportOutcome) -> None:
    """All files failed: the request fails, with the one error as it is or every error in the details."""
    if outcome.characters or outcome.lorebooks or outcome.duplicates or not outcome.failures:
        return
    if len(outcome.failures) == 1:
        raise outcome.failures[0][1]
    details = {"errors": [msgspec.structs.asdict(failure) for failure in import_result(outcome).errors]}
    statuses = {status_for(exc) for _, exc in outcome.failures}
    message = f"none of the {len(outcome.failures)} files could be imported"
    if statuses == {413}:
        raise PayloadTooLarge(message, code="import_failed", details=details)
    raise InvalidInput(message, code="import_failed", details=details)


async def import_upload(data: CardUpload, transfer: CardTransfer, user: User, config: Settings) -> ImportOutcome:
    """Shared by the API and the import page: read the parts (capped), import each file on its own."""
    uploads = config.uploads
    if len(data.file) > uploads.max_files_per_import:
        raise PayloadTooLarge(
            f"{len(data.file)} files in one request; the limit is {uploads.max_files_per_import}",
            code="too_many_files",
        )
    files = [(f.filename or "upload", await read_upload(f, uploads.max_card_bytes)) for f in data.file]
    for upload in data.file:
        await upload.close()
    return await transfer.import_files(
        user, files, visibility=data.visibility, content_tier=data.content_tier, duplicates=data.duplicates
    )


class CharacterController(Controller):
    path = "/api/v1/characters"
    tags = ["characters"]

    @get("/")
    async def list_characters(
        self,
        characters: Characters,
        viewer: Viewer,
        sort: FromQuery[Sort] = "popular",
        tag: FromQuery[str | None] = None,
        content_tier: FromQuery[ContentTier | None] = None,
        creator: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 24,
    ) -> CharacterPage:
        """Public characters (and the caller's own) the caller may see. `creator` is a user id; pass
        `next_cursor` back as `cursor` for the next page."""
        return await characters.browse(
            viewer, sort=sort, tag=tag, content_tier=content_tier, creator_id=creator, cursor=cursor, limit=limit
        )

    @get("/trending")
    async def trending(self, characters: Characters, viewer: Viewer, limit: FromQuery[int] = 24) -> CharacterList:
        """Ranked by recent conversations, messages, ratings and favorites, decaying with age."""
        return CharacterList(items=await characters.trending(viewer, limit=limit))

    @get("/search")
    async def search(
        self, characters: Characters, viewer: Viewer, q: FromQuery[str] = "", limit: FromQuery[int] = 20
    ) -> CharacterList:
        """Full-text search over name, tagline, description, tags and creator; prefixes and small typos match."""
        return CharacterList(items=await characters.search(viewer, q, limit=limit))

    @post("/", status_code=201)
    async def create_character(
        self, data: JSONBody[CharacterCreate], characters: Characters, user: CurrentUser
    ) -> Character:
        return await characters.create(user, data)

    @post("/import", status_code=201)
    async def import_cards(
        self, data: MultipartBody[CardUpload], transfer: Transfer, user: CurrentUser, config: Config
    ) -> Response[ImportResult]:
        """Import card files (PNG chara/ccv3, JSON V1/V2/V3, CharX) and lorebooks (World Info, lorebook_v3).
        Each file stands alone: 201 with the imported items and per-file errors when at least one
        succeeded; when none did, the error status of the failure (or 422 listing every failure). A card
        the caller already imported is listed as `duplicate` with the existing character's id (200 when
        nothing was new); send `duplicates=true` to import it again."""
        outcome = await import_upload(data, transfer, user, config)
        raise_if_nothing_imported(outcome)
        return Response(import_result(outcome), status_code=201 if outcome.characters or outcome.lorebooks else 200)

    @get("/{character_id:str}")
    async def get_character(
        self, character_id: FromPath[str], characters: Characters, viewer: Viewer, analytics: Analytics
    ) -> Character:
        character = await characters.get(viewer, character_id)
        analytics.record(
            "character_viewed", user_id=viewer.id if viewer else None, character_id=character.id, surface="api"
        )
        return character

    @patch("/{character_id:str}")
    async def update_character(
        self, character_id: FromPath[str], data: JSONBody[CharacterUpdate], characters: Characters, user: CurrentUser
    ) -> Character:
        return await characters.update(user, character_id, data)

    @delete("/{character_id:str}", status_code=204)
    async def delete_character(self, character_id: FromPath[str], characters: Characters, user: CurrentUser) -> None:
        await characters.delete(user, character_id)

    @post("/{character_id:str}/avatar", status_code=200)
    async def upload_avatar(
        self,
        character_id: FromPath[str],
        data: MultipartBody[ImageUpload],
        characters: Characters,
        user: CurrentUser,
        config: Config,
    ) -> Character:
        """A PNG, JPEG, GIF or WebP picture; it is re-encoded and thumbnailed."""
        image = await read_upload(data.file, config.uploads.max_avatar_bytes)
        return await characters.set_avatar(user, character_id, image)

    @post("/{character_id:str}/rate", status_code=200)
    async def rate(
        self, character_id: FromPath[str], data: JSONBody[Rate], characters: Characters, user: CurrentUser
    ) -> RatingSummary:
        """1-5 stars and an optional review; rating again replaces your earlier rating."""
        return await characters.rate(user, character_id, data)

    @get("/{character_id:str}/reviews")
    async def reviews(
        self,
        character_id: FromPath[str],
        characters: Characters,
        viewer: Viewer,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 20,
    ) -> ReviewPage:
        return await characters.reviews(viewer, character_id, cursor=cursor, limit=limit)

    @get("/{character_id:str}/export")
    async def export_character(
        self,
        character_id: FromPath[str],
        transfer: Transfer,
        viewer: Viewer,
        format: FromQuery[ExportFormat] = "png",
        spec: FromQuery[Literal["v2", "v3"]] = "v3",
    ) -> Response[bytes]:
        """PNG with `chara` (V2) and `ccv3` (V3) chunks, JSON (V3, or V2 with `spec=v2`), or CharX."""
        content, media_type, character = await transfer.export(viewer, character_id, format, spec)
        # The two JSON specs are different files: `Name.v2.json` and `Name.v3.json` never overwrite each other.
        extension = f"{spec}.json" if format == "json" else format
        return Response(content, media_type=media_type, headers=attachment(character.name, extension))
