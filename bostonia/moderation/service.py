"""Moderation's logic: checking text and images, the decision log, the report queue and admin actions.

Reports come from users (a message of their own conversation, or a character they can see: nothing else
can be reported, and a missing target is 404 whoever asks) and from automated flags (content blocked in
every tier, avatars that need a look). An admin closes a report by dismissing it, hiding the character,
warning or disabling the user whose content it is; each action takes effect at once and is audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bostonia.accounts.service import AccountService
from bostonia.characters.service import CharacterService
from bostonia.chat.service import ChatService
from bostonia.config import ModerationConfig, UploadsConfig
from bostonia.errors import Conflict, InvalidInput, NotFound
from bostonia.identity import CONTENT_TIERS, ContentTier, User, require_admin
from bostonia.moderation.images import FLAG_FROM, MIN_SIDE, PASS_BELOW, NSFWImageModel, inspect_image
from bostonia.moderation.moderator import TextModerator, allowed_in
from bostonia.moderation.schemas import (
    CreateReport,
    Decision,
    ImageVerdict,
    ModerateText,
    Report,
    ResolveReport,
    TextVerdict,
)
from bostonia.moderation.store import DecisionRecord, ModerationStore, ReportRecord

log = logging.getLogger(__name__)
CONTEXT_MESSAGES = 5  # a reported message comes with up to this many messages before it
CARD_FIELDS = ("name", "tagline", "description", "personality", "scenario", "greeting")
FIELD_CHARS = 2000


class ModerationService:
    def __init__(
        self,
        store: ModerationStore,
        moderator: TextModerator,
        *,
        characters: CharacterService,
        chat: ChatService,
        accounts: AccountService,
        config: ModerationConfig | None = None,
        uploads: UploadsConfig | None = None,
        image_model: NSFWImageModel | None = None,
    ) -> None:
        self.store = store
        self.moderator = moderator
        self.characters = characters
        self.chat = chat
        self.accounts = accounts
        self.config = config or ModerationConfig()
        self.uploads = uploads or UploadsConfig()
        self.image_model = image_model
        # One check at a time: each takes ~10 ms of CPU; a queue keeps moderation from crowding out the model.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bostonia-moderation")

    # -- checking -------------------------------------------------------------------------------------

    async def check(self, text: str, context: str = "") -> TextVerdict:
        """Score a text on the moderation thread (never on the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: self.moderator.check(text, context))

    async def moderate_text(self, data: ModerateText) -> TextVerdict:
        verdict = await self.check(data.text, data.context)
        if data.tier is not None:
            verdict.allowed = allowed_in(verdict, data.tier)
        return verdict

    def warm_up(self) -> asyncio.Future[None]:
        """Load the models on the moderation thread now, so the first chat message does not wait for them."""
        return asyncio.get_running_loop().run_in_executor(self._executor, self.moderator.warm_up)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def check_avatar(self, user: User | None, image: bytes, content_tier: ContentTier) -> None:
        """A character's picture, before it is stored (upload, builder, card import): explicit pictures need
        an adult character; uncertain ones are stored and queued for an admin. Any size is a picture here:
        the characters capability has already validated and re-encoded it."""
        verdict = await self.moderate_image(user, image, content_tier, min_side=1)
        if not verdict.ok:
            raise InvalidInput(
                f"this picture looks explicit; it can only be the picture of an adult character ({verdict.tier})",
                code="image_blocked",
                details={"reasons": verdict.reasons},
            )

    async def moderate_image(
        self, user: User | None, data: bytes, tier: ContentTier = "sfw", *, min_side: int = MIN_SIDE
    ) -> ImageVerdict:
        loop = asyncio.get_running_loop()
        facts, picture = await loop.run_in_executor(
            self._executor,
            lambda: inspect_image(
                data,
                max_bytes=self.uploads.max_avatar_bytes,
                max_pixels=self.uploads.max_image_pixels,
                min_side=min_side,
            ),
        )
        verdict = ImageVerdict(
            ok=True,
            format=facts.format,
            width=facts.width,
            height=facts.height,
            bytes=facts.size,
            content_check="queued",
        )
        model = self.image_model if self.config.image_model else None
        if model is not None and model.available():
            try:
                score = await loop.run_in_executor(self._executor, model.score, picture)
            except Exception:
                log.exception("the image content check failed; queueing the picture for review")
            else:
                verdict.nsfw_score = round(score, 3)
                if score < PASS_BELOW:
                    verdict.content_check = "passed"
                elif score >= FLAG_FROM:
                    verdict.content_check = "flagged"
                    verdict.tier = "adult"
                    verdict.reasons.append(f"sexual: open_nsfw {score:.2f}")
                else:
                    verdict.tier = "mature"
                    verdict.reasons.append(f"uncertain: open_nsfw {score:.2f}, an admin will look")
        else:
            verdict.content_check = "unavailable" if self.config.image_model else "queued"
            verdict.reasons.append("no image model: an admin will look")
        if verdict.content_check == "flagged":
            verdict.ok = CONTENT_TIERS.index(tier) >= CONTENT_TIERS.index("adult")
        if verdict.content_check in ("queued", "unavailable") or (verdict.content_check == "flagged" and verdict.ok):
            report = await self.store.add_report(
                ReportRecord(
                    source="automated",
                    target_type="image",
                    target_id=None,
                    subject_user_id=user.id if user else None,
                    reason="image review",
                    details="; ".join(verdict.reasons),
                    categories=["sexual"] if verdict.content_check == "flagged" else [],
                    context=[{"image": facts.thumbnail, "width": facts.width, "height": facts.height}],
                )
            )
            verdict.report_id = report.id
        await self.store.record_decision(
            DecisionRecord(
                direction="image",
                outcome="blocked" if not verdict.ok else ("queued" if verdict.report_id else "allowed"),
                reason="; ".join(verdict.reasons) or "passed",
                tier=tier,
                categories=["sexual"] if verdict.content_check == "flagged" else [],
                scores={"nsfw": verdict.nsfw_score} if verdict.nsfw_score is not None else {},
                user_id=user.id if user else None,
            )
        )
        return verdict

    # -- the decision log -----------------------------------------------------------------------------------

    async def record(self, record: DecisionRecord) -> None:
        await self.store.record_decision(record)

    async def decisions(self, actor: User, *, limit: int = 200, outcome: str | None = None) -> list[Decision]:
        require_admin(actor)
        return await self.store.decisions(limit=max(1, min(limit, 1000)), outcome=outcome)

    async def flag(
        self,
        *,
        target_type: str,
        reason: str,
        categories: Sequence[str],
        text: str,
        subject_user_id: str | None,
        conversation_id: str | None = None,
        character_id: str | None = None,
        message_id: str | None = None,
    ) -> Report:
        """An automated queue item: content that no tier allows was blocked (the admin sees the text)."""
        return await self.store.add_report(
            ReportRecord(
                source="automated",
                target_type=target_type,
                target_id=message_id,
                reason=reason,
                conversation_id=conversation_id,
                character_id=character_id,
                subject_user_id=subject_user_id,
                categories=categories,
                context=[{"role": "blocked", "content": text[:FIELD_CHARS]}],
            )
        )

    # -- reports -------------------------------------------------------------------------------------------

    async def report(self, user: User, data: CreateReport) -> Report:
        """A user's report of something they can see: a message of their conversation, or a character."""
        if data.target_type == "message":
            if not data.conversation_id:
                raise InvalidInput(
                    "a message is reported with its conversation_id", details={"field": "conversation_id"}
                )
            conversation = await self.chat.get_conversation(user, data.conversation_id)
            message = await self.chat.message(user, data.conversation_id, data.target_id)
            path = await self.chat.conversations.path_to(message.id)
            context = [
                {"role": m.role, "content": m.content[:FIELD_CHARS], "created_at": m.created_at}
                for m in path[-CONTEXT_MESSAGES:]
            ]
            character = await self.characters.of_conversation(conversation.character_id)
            # A reply is the character's doing (its creator answers for it); a user message is its author's.
            subject = character.creator_id if message.role == "assistant" else conversation.user_id
            record = ReportRecord(
                source="user",
                target_type="message",
                target_id=message.id,
                conversation_id=conversation.id,
                character_id=character.id,
                subject_user_id=subject,
                reporter_id=user.id,
                reason=data.reason,
                details=data.details,
                categories=[data.reason] if data.reason not in ("spam", "other") else [],
                context=context,
            )
        else:
            character = await self.characters.get(user, data.target_id)  # NotFound if the user cannot see it
            if character.creator_id == user.id:
                raise InvalidInput("you cannot report your own character", code="own_character")
            record = ReportRecord(
                source="user",
                target_type="character",
                target_id=character.id,
                character_id=character.id,
                subject_user_id=character.creator_id,
                reporter_id=user.id,
                reason=data.reason,
                details=data.details,
                categories=[data.reason] if data.reason not in ("spam", "other") else [],
                context=[{"field": f, "content": str(getattr(character, f))[:FIELD_CHARS]} for f in CARD_FIELDS],
            )
        return await self.store.add_report(record)

    async def reports(self, actor: User, *, status: str | None = "open", limit: int = 200) -> list[Report]:
        require_admin(actor)
        return await self.store.reports(status=status, limit=max(1, min(limit, 1000)))

    async def get_report(self, actor: User, report_id: str) -> Report:
        require_admin(actor)
        report = await self.store.report(report_id)
        if report is None:
            raise NotFound("report not found")
        return report

    async def resolve(self, actor: User, report_id: str, data: ResolveReport) -> Report:
        """Act on a report; the action takes effect now and the report, closed, goes to the audit log."""
        report = await self.get_report(actor, report_id)
        if report.status != "open":
            raise Conflict("this report was already resolved", code="report_resolved")
        details: dict[str, Any] = {"note": data.note, "reason": report.reason, "source": report.source}
        warning: tuple[str, str] | None = None
        if data.action == "hide_character":
            if report.character_id is None:
                raise InvalidInput("this report concerns no character", code="no_character")
            await self.characters.set_hidden(actor, report.character_id, True)
            details["character_id"] = report.character_id
        elif data.action in ("warn_user", "disable_user"):
            if report.subject_user_id is None:
                raise InvalidInput("no account is responsible for this content", code="no_subject")
            details["user_id"] = report.subject_user_id
            if data.action == "disable_user":
                await self.accounts.set_active(report.subject_user_id, False, actor=actor)
            else:
                message = data.note.strip() or f"An admin reviewed content of yours reported for: {report.reason}."
                warning = (report.subject_user_id, message)
        status = "dismissed" if data.action == "dismiss" else "actioned"
        await self.store.resolve(
            report.id, status=status, resolution=data.action, actor_id=actor.id, audit_details=details, warning=warning
        )
        return await self.get_report(actor, report.id)

    async def warnings(self, user: User) -> list[Any]:
        return await self.store.warnings(user.id)
