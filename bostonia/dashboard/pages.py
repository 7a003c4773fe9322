"""The admin dashboard at `/admin` (charts drawn as SVG on the server) and its figures as JSON."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from bostonia.analytics.charts import bar_chart, line_chart
from bostonia.dashboard.deps import Dashboard
from bostonia.dashboard.service import DashboardFigures, Point
from bostonia.http.deps import CurrentUser


def _labels(points: list[Point]) -> list[str]:
    return [p.label for p in points]


def _values(points: list[Point]) -> list[float]:
    return [p.value for p in points]


class DashboardPages(Controller):
    include_in_schema = False

    @get("/admin")
    async def dashboard(self, user: CurrentUser, dashboard: Dashboard) -> Template:
        figures = await dashboard.figures(actor=user)
        charts = [
            (
                "active_users",
                "Active users per day",
                bar_chart(
                    "Active users per day",
                    _labels(figures.active_users_per_day),
                    _values(figures.active_users_per_day),
                    chart_id="chart-active-users",
                ),
            ),
            (
                "messages",
                "Messages per minute, last hour",
                bar_chart(
                    "Messages per minute",
                    _labels(figures.messages_per_minute_series),
                    _values(figures.messages_per_minute_series),
                    chart_id="chart-messages",
                ),
            ),
            (
                "response",
                "Average response time per hour",
                line_chart(
                    "Average response time per hour",
                    _labels(figures.response_ms_per_hour),
                    {"ms": _values(figures.response_ms_per_hour)},
                    unit=" ms",
                    chart_id="chart-response",
                ),
            ),
            (
                "errors",
                "Server errors per minute, last hour",
                bar_chart(
                    "Server errors per minute",
                    _labels(figures.errors_per_minute),
                    _values(figures.errors_per_minute),
                    chart_id="chart-errors",
                ),
            ),
            (
                "revenue",
                f"Revenue per day ({figures.currency.upper()})",
                bar_chart(
                    "Revenue per day",
                    _labels(figures.revenue_per_day),
                    _values(figures.revenue_per_day),
                    chart_id="chart-revenue",
                ),
            ),
        ]
        return Template("admin_dashboard.html", context={"user": user, "f": figures, "charts": charts})


class DashboardController(Controller):
    path = "/api/v1/admin/dashboard"
    tags = ["admin"]

    @get("/")
    async def figures(self, user: CurrentUser, dashboard: Dashboard) -> DashboardFigures:
        """The admin dashboard's figures and series (admins only)."""
        return await dashboard.figures(actor=user)
