"""Domain errors. Each edge maps these to its own wire form in exactly one place:
FHIR/HTTP in functions/http.py, HL7 acknowledgments in the HL7 adapter."""
from __future__ import annotations


class DomainError(Exception):
    """Base class; `message` is safe to show a caller: it never carries PHI or input values."""

    code = "processing"

    def __init__(self, message: str, expression: str | None = None):
        super().__init__(message)
        self.message = message
        self.expression = expression


class Invalid(DomainError):
    """The input is well-formed but breaks a rule (HTTP 422 / 400)."""

    def __init__(self, message: str, expression: str | None = None, code: str = "invalid"):
        super().__init__(message, expression)
        self.code = code


class NotFound(DomainError):
    code = "not-found"


class Conflict(DomainError):
    code = "conflict"


class StaleVersion(Conflict):
    pass


class KeyReused(Conflict):
    """The sender's idempotency key (Bundle.identifier, Claim.identifier, MSH-10) came again with other content."""


class UnknownRelated(Invalid):
    """An update, cancel or appeal names a request this partner never sent."""

    def __init__(self, message: str, expression: str | None = None):
        super().__init__(message, expression, "not-found")


class NoItems(Invalid):
    """A request with nothing to review."""

    def __init__(self, message: str, expression: str | None = None):
        super().__init__(message, expression, "required")


class Forbidden(DomainError):
    """The caller's role does not allow this (HTTP 403)."""

    code = "forbidden"


class IllegalTransition(Conflict):
    """The command does not apply to the case in its current state; the message names the state."""
