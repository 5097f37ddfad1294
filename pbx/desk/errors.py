"""What a desk operation can refuse with: a kind (the class), a code and a message.

No transport here: the HTTP layer maps each kind to a status in one place
(`pbx.http.desk_access`), the bus carries kind, code and message (`pbx.desk.wire`). A
kind's default code is what most refusals of that kind answer with; a few carry their own
(`balance_below_zero` is a conflict, `payments_unavailable` an unavailability).
"""

from __future__ import annotations


class DeskError(Exception):
    code = "desk_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code


class NotFound(DeskError):
    """No such call, agent or account for this actor (another business's look the same)."""

    code = "not_found"


class Forbidden(DeskError):
    """Someone else's call."""

    code = "forbidden"


class NotVerified(DeskError):
    """The business asks for the caller's identity before money, and it is not known yet."""

    code = "caller_not_verified"


class Conflict(DeskError):
    """Not now: the call, the agent or the account is not in a state that allows it."""

    code = "conflict"


class Invalid(DeskError):
    """What was asked cannot be done at all (no such transfer target, no scheme by phone)."""

    code = "invalid"


class Unavailable(DeskError):
    """Asterisk, the payment provider or the owning process cannot be reached: retry."""

    code = "asterisk_unavailable"


class BadRequest(DeskError):
    """A desk request from another process that does not decode."""

    code = "bad_request"


KINDS: tuple[type[DeskError], ...] = (
    NotFound, Forbidden, NotVerified, Conflict, Invalid, Unavailable, BadRequest,
)  # fmt: skip
