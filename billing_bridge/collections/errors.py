"""What the collections services refuse, each with a code the HTTP layer maps to a status."""

from __future__ import annotations


class CollectionsError(Exception):
    code = "conflict"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field
        if code is not None:
            self.code = code


class NotFound(CollectionsError):
    code = "not_found"


class Forbidden(CollectionsError):
    code = "forbidden"


class Conflict(CollectionsError):
    """Refused by the state of things: an open promise already, a paused recording, ..."""

    code = "conflict"


class Invalid(CollectionsError):
    """A value breaks a rule (a cap): names its field."""

    code = "invalid"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem, field=field)
