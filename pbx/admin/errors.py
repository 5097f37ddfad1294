"""Why an admin change is refused, in the domain's words; the HTTP layer picks the status."""

from __future__ import annotations


class AdminError(Exception):
    """An admin change refused by a rule."""


class NotFound(AdminError):
    """No such thing in the tenant (the id names nothing, or another tenant's row)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(AdminError):
    """The change would break what other configuration relies on."""


class BadReference(AdminError):
    """A field names something the tenant does not have (a queue, business hours)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem
