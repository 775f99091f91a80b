"""Domain errors: a status, a stable code and a message; no Flask here.

Services raise these; one handler per surface turns them into a JSON error (API) or a flashed
message / re-rendered form (web).
"""

from __future__ import annotations


class DomainError(Exception):
    """A refused operation, with the HTTP status that describes it."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ValidationFailed(DomainError):
    """Input that is well-formed but breaks a rule; `errors` names the fields."""

    status = 422
    code = "validation_error"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """Missing, or not visible to the caller (so existence is not revealed)."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The object's state does not allow the operation now."""

    status = 409
    code = "conflict"


class PoolNotOpen(Conflict):
    code = "pool_not_open"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TooMany(DomainError):
    """The caller did this too often lately (a rule of the product, counted in the database)."""

    status = 429
    code = "too_many"
