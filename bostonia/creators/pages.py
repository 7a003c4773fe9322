"""The creator studio (my characters, analytics with charts, earnings and payouts, greeting tests, the
profile), public creator pages, and the admins' payout approvals."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from bostonia.analytics.charts import bar_chart, line_chart
from bostonia.creators.deps import Creators, Experiments, Studio
from bostonia.creators.schemas import CreatorProfileUpdate, ExperimentCreate, PayoutRequest
from bostonia.creators.studio import METRICS
from bostonia.errors import BostoniaError, InvalidInput
from bostonia.http.auth import public_base_url
from bostonia.http.deps import Config, CurrentUser, Viewer
from bostonia.http.errors import status_for
from bostonia.identity import require_admin
from bostonia.ui.forms import Form

PAYOUT_ACTIONS = ("approve", "complete", "fail")


def _convert(data: dict[str, Any], schema: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.convert(data, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid form input: {exc}") from None


class StudioPages(Controller):
    include_in_schema = False

    @get("/studio")
    async def characters(self, user: CurrentUser, studio: Studio) -> Template:
        stats = await studio.characters_with_stats(user)
        return Template("studio.html", context={"user": user, "tab": "characters", "stats": stats.items})

    @get("/studio/analytics")
    async def analytics(
        self, user: CurrentUser, studio: Studio, days: FromQuery[int] = 30, character_id: FromQuery[str | None] = None
    ) -> Template:
        data = await studio.analytics_for(user, days=days, character_id=character_id or None)
        labels = [day[5:] for day in data.days]
        charts = {
            metric: line_chart(
                f"{metric.capitalize()} per day",
                labels,
                {data.characters[cid]: values for cid, values in data.series[metric].items()},
                chart_id=f"chart-{metric}",
            )
            for metric in METRICS
        }
        return Template(
            "studio_analytics.html",
            context={
                "user": user,
                "tab": "analytics",
                "data": data,
                "charts": charts,
                "days": days,
                "character_id": character_id or "",
            },
        )

    @get("/studio/earnings")
    async def earnings(self, user: CurrentUser, creators: Creators, error: FromQuery[str | None] = None) -> Template:
        return await self._earnings(user, creators, error=error)

    async def _earnings(self, user: Any, creators: Any, *, error: str | None = None, code: int = 200) -> Template:
        earnings = await creators.earnings(user)
        by_day: dict[str, int] = {}
        for item in earnings.items:
            by_day[item.created_at[:10]] = by_day.get(item.created_at[:10], 0) + item.net_cents
        days = sorted(by_day)[-30:]
        chart = bar_chart(
            "Net earnings per day", [d[5:] for d in days], [by_day[d] / 100 for d in days], chart_id="chart-earnings"
        )
        return Template(
            "studio_earnings.html",
            status_code=code,
            context={
                "user": user,
                "tab": "earnings",
                "earnings": earnings,
                "chart": chart,
                "error": error,
                "profile": await creators.profile(user),
            },
        )

    @post("/studio/payout")
    async def payout(self, data: Form, user: CurrentUser, creators: Creators) -> Response[Any]:
        amount = (data.get("amount") or "").strip()
        try:
            cents = round(float(amount) * 100) if amount else None
            await creators.request_payout(user, _convert({"amount_cents": cents}, PayoutRequest))
        except ValueError:
            return await self._earnings(user, creators, error="Enter an amount like 12.50.", code=422)
        except BostoniaError as exc:
            return await self._earnings(user, creators, error=exc.message, code=status_for(exc))
        return Redirect("/studio/earnings", status_code=303)

    @post("/studio/payout-account")
    async def payout_account(
        self, user: CurrentUser, creators: Creators, config: Config, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        try:
            url = await creators.payout_account_link(user, public_base_url(request, config.server.public_url))
        except BostoniaError as exc:
            return await self._earnings(user, creators, error=exc.message, code=status_for(exc))
        return Redirect(url, status_code=303)

    @get("/studio/experiments")
    async def experiments(self, user: CurrentUser, experiments: Experiments, studio: Studio) -> Template:
        return await self._experiments(user, experiments, studio)

    async def _experiments(
        self, user: Any, experiments: Any, studio: Any, *, error: str | None = None, code: int = 200
    ) -> Template:
        return Template(
            "studio_experiments.html",
            status_code=code,
            context={
                "user": user,
                "tab": "experiments",
                "experiments": (await experiments.list(user)).items,
                "characters": await studio.my_characters(user),
                "error": error,
            },
        )

    @post("/studio/experiments")
    async def start(self, data: Form, user: CurrentUser, experiments: Experiments, studio: Studio) -> Response[Any]:
        try:
            request = _convert(
                {
                    "character_id": data.get("character_id", ""),
                    "greeting_a": data.get("greeting_a", "0"),
                    "greeting_b": data.get("greeting_b", "1"),
                },
                ExperimentCreate,
            )
            await experiments.create(user, request)
        except BostoniaError as exc:
            return await self._experiments(user, experiments, studio, error=exc.message, code=status_for(exc))
        return Redirect("/studio/experiments", status_code=303)

    @post("/studio/experiments/{experiment_id:str}/stop")
    async def stop(self, experiment_id: FromPath[str], user: CurrentUser, experiments: Experiments) -> Redirect:
        await experiments.stop(user, experiment_id)
        return Redirect("/studio/experiments", status_code=303)

    @get("/studio/profile")
    async def profile(self, user: CurrentUser, creators: Creators, notice: FromQuery[str | None] = None) -> Template:
        return Template(
            "studio_profile.html",
            context={
                "user": user,
                "tab": "profile",
                "profile": await creators.profile(user),
                "notice": "Saved." if notice == "saved" else None,
            },
        )

    @post("/studio/profile")
    async def save_profile(self, data: Form, user: CurrentUser, creators: Creators) -> Response[Any]:
        links = [line.strip() for line in (data.get("links") or "").splitlines() if line.strip()]
        values: dict[str, Any] = {
            "display_name": data.get("display_name", ""),
            "bio": data.get("bio", ""),
            "website": (data.get("website") or "").strip() or None,
            "links": links,
        }
        try:
            await creators.update_profile(user, _convert(values, CreatorProfileUpdate))
        except BostoniaError as exc:
            return Template(
                "studio_profile.html",
                status_code=status_for(exc),
                context={"user": user, "tab": "profile", "profile": await creators.profile(user), "error": exc.message},
            )
        return Redirect("/studio/profile?notice=saved", status_code=303)


class CreatorPages(Controller):
    include_in_schema = False

    @get("/creators/{creator_id:str}")
    async def creator(self, creator_id: FromPath[str], viewer: Viewer, creators: Creators) -> Template:
        profile, characters = await creators.public(viewer, creator_id)
        return Template("creator.html", context={"user": viewer, "creator": profile, "characters": characters})

    @post("/characters/{character_id:str}/unlock")
    async def unlock(self, character_id: FromPath[str], user: CurrentUser, creators: Creators) -> Redirect:
        await creators.unlock(user, character_id)
        return Redirect(f"/characters/{character_id}", status_code=303)

    @get("/admin/payouts")
    async def payouts(self, user: CurrentUser, creators: Creators, error: FromQuery[str | None] = None) -> Template:
        require_admin(user)
        return Template(
            "admin_payouts.html",
            context={"user": user, "payouts": await creators.all_payouts(actor=user), "error": error},
        )

    @post("/admin/payouts/{payout_id:str}/{action:str}")
    async def decide(
        self, payout_id: FromPath[str], action: FromPath[str], data: Form, user: CurrentUser, creators: Creators
    ) -> Response[Any]:
        require_admin(user)
        if action not in PAYOUT_ACTIONS:
            raise InvalidInput(f"no payout action {action!r}")
        try:
            if action == "approve":
                await creators.approve_payout(payout_id, actor=user)
            elif action == "complete":
                await creators.complete_payout(payout_id, actor=user)
            else:
                await creators.fail_payout(payout_id, actor=user, reason=data.get("reason", ""))
        except BostoniaError as exc:
            return Template(
                "admin_payouts.html",
                status_code=status_for(exc),
                context={"user": user, "payouts": await creators.all_payouts(actor=user), "error": exc.message},
            )
        return Redirect("/admin/payouts", status_code=303)
