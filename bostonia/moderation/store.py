"""SQL for moderation's tables (moderation_decisions, moderation_reports, moderation_warnings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from bostonia.audit.store import record_in
from bostonia.db import Database, sqlite3
from bostonia.db.values import from_json, new_id, to_json, utcnow
from bostonia.moderation.schemas import AccountWarning, Decision, Report

EXCERPT_CHARS = 1000


class DecisionRecord(msgspec.Struct, kw_only=True):
    direction: str
    outcome: str
    reason: str
    tier: str | None = None
    categories: Sequence[str] = ()
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    user_id: str | None = None
    conversation_id: str | None = None
    character_id: str | None = None
    message_id: str | None = None
    excerpt: str = ""


class ReportRecord(msgspec.Struct, kw_only=True):
    source: str
    target_type: str
    target_id: str | None
    reason: str
    conversation_id: str | None = None
    character_id: str | None = None
    subject_user_id: str | None = None
    reporter_id: str | None = None
    details: str = ""
    categories: Sequence[str] = ()
    context: list[dict[str, Any]] = msgspec.field(default_factory=list)


def _decision(row: dict[str, Any]) -> Decision:
    row = {**row, "categories": from_json(row["categories"], []), "scores": from_json(row["scores"], {})}
    return msgspec.convert(row, Decision, strict=False)


def _report(row: dict[str, Any]) -> Report:
    row = {**row, "categories": from_json(row["categories"], []), "context": from_json(row["context"], [])}
    if row["target_type"] != "character":
        # Admins see what was reported (the context), not where it lives: a conversation stays its owner's.
        row["target_id"] = None
    return msgspec.convert(row, Report, strict=False)


class ModerationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- decisions ----------------------------------------------------------------------------------

    async def record_decision(self, record: DecisionRecord) -> str:
        decision_id = new_id()
        await self.db.execute_write(
            "insert into moderation_decisions (id, direction, outcome, reason, tier, categories, scores, user_id,"
            " conversation_id, character_id, message_id, excerpt, created_at)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                decision_id,
                record.direction,
                record.outcome,
                record.reason,
                record.tier,
                to_json(list(record.categories)),
                to_json(record.scores),
                record.user_id,
                record.conversation_id,
                record.character_id,
                record.message_id,
                record.excerpt[:EXCERPT_CHARS],
                utcnow(),
            ),
        )
        return decision_id

    async def decisions(self, *, limit: int = 200, outcome: str | None = None) -> list[Decision]:
        where, params = ("where outcome = ?", [outcome]) if outcome else ("", [])
        rows = await self.db.fetchall(
            f"select * from moderation_decisions {where} order by created_at desc, rowid desc limit ?",
            [*params, limit],
        )
        return [_decision(row) for row in rows]

    # -- reports --------------------------------------------------------------------------------------

    async def add_report(self, record: ReportRecord) -> Report:
        """A new queue item; a reporter who already has an open report of the same target gets that one."""

        def write(conn: sqlite3.Connection) -> str:
            if record.reporter_id is not None:
                existing = conn.execute(
                    "select id from moderation_reports where target_type = ? and target_id = ? and reporter_id = ?"
                    " and status = 'open'",
                    (record.target_type, record.target_id, record.reporter_id),
                ).fetchone()
                if existing:
                    return str(existing[0])
            report_id = new_id()
            conn.execute(
                "insert into moderation_reports (id, source, target_type, target_id, conversation_id, character_id,"
                " subject_user_id, reporter_id, reason, details, categories, context, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    record.source,
                    record.target_type,
                    record.target_id,
                    record.conversation_id,
                    record.character_id,
                    record.subject_user_id,
                    record.reporter_id,
                    record.reason,
                    record.details,
                    to_json(list(record.categories)),
                    to_json(record.context),
                    utcnow(),
                ),
            )
            return report_id

        report = await self.report(await self.db.write(write))
        assert report is not None
        return report

    async def report(self, report_id: str) -> Report | None:
        row = await self.db.fetchone("select * from moderation_reports where id = ?", (report_id,))
        return _report(row) if row else None

    async def reports(self, *, status: str | None = None, limit: int = 200) -> list[Report]:
        where, params = ("where status = ?", [status]) if status else ("", [])
        rows = await self.db.fetchall(
            f"select * from moderation_reports {where} order by created_at desc, rowid desc limit ?", [*params, limit]
        )
        return [_report(row) for row in rows]

    async def resolve(
        self,
        report_id: str,
        *,
        status: str,
        resolution: str,
        actor_id: str | None,
        audit_details: dict[str, Any],
        warning: tuple[str, str] | None = None,
    ) -> None:
        """Close a report, record it in the audit log, and (for a warning) store the warning — one transaction."""

        def write(conn: sqlite3.Connection) -> None:
            now = utcnow()
            conn.execute(
                "update moderation_reports set status = ?, resolution = ?, resolved_by = ?, resolved_at = ?"
                " where id = ?",
                (status, resolution, actor_id, now, report_id),
            )
            if warning is not None:
                user_id, message = warning
                conn.execute(
                    "insert into moderation_warnings (id, user_id, report_id, message, created_by, created_at)"
                    " values (?, ?, ?, ?, ?, ?)",
                    (new_id(), user_id, report_id, message, actor_id, now),
                )
            record_in(
                conn,
                actor_id=actor_id,
                action=f"moderation.{resolution}",
                target_type="report",
                target_id=report_id,
                details=audit_details,
            )

        await self.db.write(write)

    # -- warnings -------------------------------------------------------------------------------------

    async def warnings(self, user_id: str) -> list[AccountWarning]:
        rows = await self.db.fetchall(
            "select id, user_id, report_id, message, created_at from moderation_warnings where user_id = ?"
            " order by created_at desc",
            (user_id,),
        )
        return [msgspec.convert(row, AccountWarning) for row in rows]
