"""Why a call-log read or change is refused, in the domain's words; the HTTP layer picks
the status."""

from __future__ import annotations


class CallsError(Exception):
    """A read or change of calls refused by a rule."""


class NotFound(CallsError):
    """No such thing in the tenant (the id names nothing, or another tenant's row)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(CallsError):
    """The person may not do this: it is another agent's call, or done for someone else."""


class BadReference(CallsError):
    """A field names something the tenant does not have (a queue)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem
