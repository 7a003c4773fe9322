"""Moderation over JSON: checking text and images, user reports, the admin queue and decision log."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody

from bostonia.errors import PayloadTooLarge
from bostonia.http.deps import CurrentUser
from bostonia.identity import ContentTier
from bostonia.moderation.deps import Moderation
from bostonia.moderation.schemas import (
    CreateReport,
    DecisionList,
    ImageVerdict,
    ModerateText,
    Report,
    ReportList,
    ResolveReport,
    TextVerdict,
    WarningList,
)

StatusFilter = Literal["open", "dismissed", "actioned", "all"]


class ImageForm(msgspec.Struct):
    file: UploadFile
    tier: ContentTier = "sfw"


class ModerationController(Controller):
    path = "/api/v1/moderate"
    tags = ["moderation"]

    @post("/text", status_code=200)
    async def moderate_text(
        self, data: JSONBody[ModerateText], moderation: Moderation, user: CurrentUser
    ) -> TextVerdict:
        """Score a text: per-category flags and scores, and the lowest content tier it fits (`tier`). With
        `tier` in the body, `allowed` says whether it may appear there. `context` is what came before."""
        return await moderation.moderate_text(data)

    @post("/image", status_code=200)
    async def moderate_image(
        self, data: MultipartBody[ImageForm], moderation: Moderation, user: CurrentUser
    ) -> ImageVerdict:
        """Check a picture for use as an avatar (type, size, dimensions, then the open_nsfw content check);
        `tier` is the character's content tier. Uncertain pictures are accepted and queued for an admin."""
        limit = moderation.uploads.max_avatar_bytes
        content = await data.file.read(limit + 1)
        if len(content) > limit:
            raise PayloadTooLarge(f"images are limited to {limit:,} bytes", code="image_too_large")
        return await moderation.moderate_image(user, content, data.tier)

    @get("/decisions")
    async def decisions(
        self,
        moderation: Moderation,
        user: CurrentUser,
        outcome: FromQuery[str | None] = None,
        limit: FromQuery[int] = 200,
    ) -> DecisionList:
        """The decision log (admins): what was blocked, withdrawn, replaced or queued, and why."""
        return DecisionList(items=await moderation.decisions(user, limit=limit, outcome=outcome))

    @get("/warnings")
    async def warnings(self, moderation: Moderation, user: CurrentUser) -> WarningList:
        """The warnings admins gave the caller."""
        return WarningList(items=await moderation.warnings(user))


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["moderation"]

    @post("/", status_code=201)
    async def create_report(self, data: JSONBody[CreateReport], moderation: Moderation, user: CurrentUser) -> Report:
        """Report a message of one of your conversations (with its `conversation_id`) or a character you can
        see. The message and the few before it are shared with the admins as the report's context."""
        return await moderation.report(user, data)

    @get("/")
    async def list_reports(
        self,
        moderation: Moderation,
        user: CurrentUser,
        status: FromQuery[StatusFilter] = "open",
        limit: FromQuery[int] = 200,
    ) -> ReportList:
        """The admin queue: user reports and automated flags, newest first (admins only)."""
        return ReportList(items=await moderation.reports(user, status=None if status == "all" else status, limit=limit))

    @get("/{report_id:str}")
    async def get_report(self, report_id: FromPath[str], moderation: Moderation, user: CurrentUser) -> Report:
        return await moderation.get_report(user, report_id)

    @post("/{report_id:str}/resolve", status_code=200)
    async def resolve_report(
        self, report_id: FromPath[str], data: JSONBody[ResolveReport], moderation: Moderation, user: CurrentUser
    ) -> Report:
        """Close a report: `dismiss`, `hide_character`, `warn_user` (the note is the warning) or `disable_user`."""
        return await moderation.resolve(user, report_id, data)
