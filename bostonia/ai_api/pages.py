"""The admin's models page: every model with its state, memory and price, and what generations cost."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template

from bostonia.ai_api.deps import AI
from bostonia.http.deps import Config, CurrentUser
from bostonia.orchestration.accounting import format_micros


class AdminModelPages(Controller):
    include_in_schema = False

    @get("/admin/models")
    async def admin_models(self, user: CurrentUser, ai: AI, config: Config, days: FromQuery[int] = 7) -> Template:
        models = ai.all_models(user)  # admins only
        report = await ai.usage_report(user, days=days, reveal_chats=config.privacy.admin_can_read_chats)
        listing = ai.catalog.listing()
        return Template(
            "admin_models.html",
            context={
                "user": user,
                "models": models,
                "listing": listing,
                "routes": config.models.routes,
                "report": report,
                "money": format_micros,
            },
        )
