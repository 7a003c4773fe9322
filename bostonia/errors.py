"""Domain errors. Services raise these; the HTTP layer (app.py) maps each class to a status code.

Nothing here knows about HTTP: the same errors surface as CLI messages.
"""

from __future__ import annotations

from typing import Any


class BostoniaError(Exception):
    """Base class: a stable machine-readable `code`, a human `message`, optional `details`."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class ConfigError(BostoniaError):
    code = "invalid_config"


class InvalidInput(BostoniaError):
    code = "invalid_input"


class BadRequest(BostoniaError):
    """A request that cannot be read at all (an unsigned webhook), as opposed to invalid values (422)."""

    code = "bad_request"


class NotAuthenticated(BostoniaError):
    code = "not_authenticated"


class PermissionDenied(BostoniaError):
    code = "forbidden"


class NotFound(BostoniaError):
    code = "not_found"


class Conflict(BostoniaError):
    code = "conflict"


class PayloadTooLarge(BostoniaError):
    code = "payload_too_large"


class RateLimited(BostoniaError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: Any = None, code: str | None = None) -> None:
        super().__init__(message, details=details, code=code)
        self.retry_after = retry_after


class PaymentRequired(BostoniaError):
    """The action costs credits (or a plan) the account does not have."""

    code = "payment_required"


class InsufficientCredits(PaymentRequired):
    code = "insufficient_credits"


class Unavailable(BostoniaError):
    """A dependency (the model, the database) cannot serve the request right now."""

    code = "unavailable"
