"""Names of the dashboard's services for route parameters (see `bostonia/app.py`)."""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.dashboard.service import AdminDashboard

Dashboard = NamedDependency[AdminDashboard]
