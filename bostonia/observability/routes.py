from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Response, get
from litestar.di import NamedDependency

from bostonia.db import Database
from bostonia.db.health import readiness
from bostonia.observability.metrics import Metrics
from bostonia.observability.warmup import WarmUp

log = logging.getLogger(__name__)


@get("/health", media_type=MediaType.JSON, tags=["ops"], sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/ready", tags=["ops"])
async def ready(db: NamedDependency[Database], warming: NamedDependency[WarmUp]) -> Response[dict[str, Any]]:
    """The database answers, sqlite-vec is loaded, every migration is applied and the models loading at
    start-up are loaded (503 "warming" until then)."""
    try:
        state = await readiness(db)
    except Exception as exc:
        log.warning("not ready: %s", exc)
        return Response({"status": "unavailable", "error": str(exc)}, status_code=503)
    if state["pending_migrations"]:
        return Response({"status": "unavailable", **state}, status_code=503)
    if loading := warming.pending():
        return Response({"status": "warming", "warming": loading, **state}, status_code=503)
    return Response({"status": "ready", **state})


@get("/metrics", tags=["ops"], sync_to_thread=False)
def metrics(metrics: NamedDependency[Metrics]) -> Response[bytes]:
    """Prometheus text exposition."""
    # Litestar appends the charset to a text/* media type itself: name it here and it is sent twice.
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")


ROUTES = [health, ready, metrics]
