"""Moderation's shapes: verdicts, decisions, reports, warnings, and the request bodies of its routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from bostonia.identity import ContentTier

Category = Literal["sexual", "sexual_minors", "violence", "self_harm", "harassment", "hate", "illegal"]
CATEGORIES: tuple[Category, ...] = ("sexual", "sexual_minors", "violence", "self_harm", "harassment", "hate", "illegal")
# The lowest content tier in which a category is allowed; None: never, whatever the tier.
CATEGORY_TIER: dict[Category, ContentTier | None] = {
    "sexual": "adult",
    "violence": "mature",
    "self_harm": "mature",
    "harassment": "mature",
    "sexual_minors": None,
    "hate": None,
    "illegal": None,
}
Signal = Literal["rules", "classifier", "similarity", "plugins"]
SIGNALS: tuple[Signal, ...] = ("rules", "classifier", "similarity", "plugins")

ReportTarget = Literal["message", "character"]
ReportReason = Literal[
    "sexual", "sexual_minors", "violence", "self_harm", "harassment", "hate", "illegal", "spam", "other"
]
ReportStatus = Literal["open", "dismissed", "actioned"]
ReportSource = Literal["user", "automated"]
AdminAction = Literal["dismiss", "hide_character", "warn_user", "disable_user"]
ADMIN_ACTIONS: tuple[AdminAction, ...] = ("dismiss", "hide_character", "warn_user", "disable_user")
Direction = Literal["input", "output", "text", "image"]
Outcome = Literal["allowed", "blocked", "retracted", "replaced", "queued"]

ShortText = Annotated[str, msgspec.Meta(max_length=2000)]


class TextVerdict(msgspec.Struct, kw_only=True):
    """The answer of `POST /api/v1/moderate/text`.

    `tier` is the lowest content tier the text fits (sfw, mature, adult); `always_blocked` is true when a
    category no tier allows was found (sexual content involving minors, hate, illegal instructions).
    """

    flagged: bool
    categories: dict[str, bool]
    scores: dict[str, float]
    tier: ContentTier
    always_blocked: bool = False
    reasons: list[str] = msgspec.field(default_factory=list)
    signals: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)  # per-signal scores
    allowed: bool | None = None  # when the request named a tier: whether the text may appear there


class ModerateText(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    # Text that came before (the previous messages): a minor mentioned there makes sexual text here
    # `sexual_minors`.
    context: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    tier: ContentTier | None = None


class ImageVerdict(msgspec.Struct, kw_only=True):
    """The answer of `POST /api/v1/moderate/image`: the checks an avatar went through."""

    ok: bool  # type, size and dimensions acceptable, and not rejected by the content check
    format: str
    width: int
    height: int
    bytes: int
    content_check: Literal["passed", "flagged", "queued", "unavailable"]
    nsfw_score: float | None = None
    tier: ContentTier = "sfw"
    report_id: str | None = None  # the review item, when the image was queued for an admin
    reasons: list[str] = msgspec.field(default_factory=list)


class Decision(msgspec.Struct, kw_only=True):
    """One moderation decision, as the admin log shows it."""

    id: str
    direction: Direction
    outcome: Outcome
    reason: str
    tier: ContentTier | None
    categories: list[str]
    scores: dict[str, float]
    user_id: str | None
    conversation_id: str | None
    character_id: str | None
    message_id: str | None
    excerpt: str  # kept only for blocked or retracted text, empty otherwise
    created_at: str


class DecisionList(msgspec.Struct):
    items: list[Decision]


class CreateReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    target_type: ReportTarget
    target_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # A message is addressed within its conversation.
    conversation_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    reason: ReportReason = "other"
    details: ShortText = ""


class Report(msgspec.Struct, kw_only=True):
    id: str
    source: ReportSource
    status: ReportStatus
    target_type: str  # message, character, image, text
    target_id: str | None  # a reported character's id (messages are shown by their context, not their ids)
    character_id: str | None
    subject_user_id: str | None  # whose content it is: warned or disabled by an admin action
    reporter_id: str | None
    reason: str
    details: str
    categories: list[str]
    # What the admin sees: the reported message and the few before it (shared by the reporter when
    # reporting), or the character's card fields, or the blocked text.
    context: list[dict[str, Any]]
    resolution: str | None
    resolved_by: str | None
    resolved_at: str | None
    created_at: str


class ReportList(msgspec.Struct):
    items: list[Report]


class ResolveReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: AdminAction
    note: ShortText = ""


class AccountWarning(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    report_id: str | None
    message: str
    created_at: str


class WarningList(msgspec.Struct):
    items: list[AccountWarning]
