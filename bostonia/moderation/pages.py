"""Moderation pages: the admin queue (reports and automated flags, with their context and actions), the
decision log, a user's report form answer (HTMX) and their warnings."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from markupsafe import escape

from bostonia.errors import BostoniaError, InvalidInput, NotFound
from bostonia.http.deps import CurrentUser
from bostonia.http.errors import status_for
from bostonia.identity import User
from bostonia.moderation.deps import Moderation
from bostonia.moderation.schemas import ADMIN_ACTIONS, CreateReport, ResolveReport
from bostonia.moderation.service import ModerationService, require_admin
from bostonia.ui.forms import Form


async def queue_page(
    user: User, moderation: ModerationService, status: str, *, error: str | None = None, code: int = 200
) -> Template:
    return Template(
        "admin_moderation.html",
        status_code=code,
        context={
            "user": user,
            "status": status,
            "reports": await moderation.reports(user, status=None if status == "all" else status),
            "decisions": await moderation.decisions(user, limit=50),
            "actions": ADMIN_ACTIONS,
            "error": error,
        },
    )


class ModerationPages(Controller):
    include_in_schema = False

    @get("/admin/moderation")
    async def queue(self, user: CurrentUser, moderation: Moderation, status: FromQuery[str] = "open") -> Template:
        require_admin(user)
        if status not in ("open", "dismissed", "actioned", "all"):
            raise InvalidInput("status is open, dismissed, actioned or all", details={"field": "status"})
        return await queue_page(user, moderation, status)

    @post("/admin/moderation/reports/{report_id:str}/{action:str}")
    async def act(
        self, report_id: FromPath[str], action: FromPath[str], data: Form, user: CurrentUser, moderation: Moderation
    ) -> Response[Any]:
        require_admin(user)
        if action not in ADMIN_ACTIONS:
            raise NotFound(f"no moderation action {action!r}")
        try:
            await moderation.resolve(
                user, report_id, msgspec.convert({"action": action, "note": data.get("note", "")}, ResolveReport)
            )
        except BostoniaError as exc:
            return await queue_page(user, moderation, "open", error=exc.message, code=status_for(exc))
        return Redirect("/admin/moderation", status_code=303)

    @post("/reports", status_code=200)
    async def report(self, data: Form, user: CurrentUser, moderation: Moderation) -> Response[str]:
        """The report form under a message or on a character page (HTMX): answers with a thank-you line."""
        try:
            request = msgspec.convert(
                {
                    "target_type": data.get("target_type", ""),
                    "target_id": data.get("target_id", ""),
                    "conversation_id": data.get("conversation_id") or None,
                    "reason": data.get("reason") or "other",
                    "details": data.get("details", ""),
                },
                CreateReport,
            )
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"invalid report: {exc}") from None
        await moderation.report(user, request)
        return Response(
            f'<span class="meta reported" role="status">{escape("Reported. Thank you — an admin will look.")}</span>',
            media_type="text/html",
        )

    @get("/warnings")
    async def warnings(self, user: CurrentUser, moderation: Moderation) -> Template:
        return Template("warnings.html", context={"user": user, "warnings": await moderation.warnings(user)})
