"""Dependencies every capability's routes may ask for: the instance config, the database, metrics, the
audit log, the rate limiter, and who is asking. Each capability declares its own services' names in its
own `deps.py`, next to its routes.

A dependency's name must never equal a top-level field of a request body: Litestar would blame a
validation error in that field on the dependency and answer 500 instead of 400. That is why the
instance configuration is `config`, not `settings` (conversation bodies have `settings`);
tests/test_routes.py checks every route for such clashes.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.audit.store import AuditLog
from bostonia.config import Settings as _Settings
from bostonia.db import Database
from bostonia.identity import User
from bostonia.observability.metrics import Metrics as _Metrics
from bostonia.ratelimit.service import RateLimiter

Audit = NamedDependency[AuditLog]
Config = NamedDependency[_Settings]  # parameter name `config`
Db = NamedDependency[Database]
Limiter = NamedDependency[RateLimiter]
Metrics = NamedDependency[_Metrics]
CurrentUser = NamedDependency[User]  # parameter name `user`: signed in, else 401
Viewer = NamedDependency[User | None]  # parameter name `viewer`: signed in or anonymous
