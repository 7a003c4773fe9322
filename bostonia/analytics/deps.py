"""Names of the analytics capability's services for route parameters (see `bostonia/app.py`)."""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.analytics.recorder import EventSink

Analytics = NamedDependency[EventSink]
