"""Why a service refuses a read or a change, in the domain's words: the services of the
admin and of the call log raise these, and the HTTP layer picks the status for each in one
place (`pbx.http.api.refusals`)."""

from __future__ import annotations


class Refused(Exception):
    """A read or change refused by a rule."""


class NotFound(Refused):
    """No such thing in the tenant (the id names nothing, or another tenant's row)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(Refused):
    """The person may not do this (another agent's call, or done for someone else)."""


class Conflict(Refused):
    """The change would break what other configuration relies on."""


class BadReference(Refused):
    """A field names something the tenant does not have (a queue, business hours)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem
