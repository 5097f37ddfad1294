"""Every desk refusal has its HTTP status, decided in one place."""

from __future__ import annotations

import pytest

from pbx.desk import errors
from pbx.http.desk_access import STATUS, api_error


def test_every_kind_of_desk_error_has_a_status() -> None:
    assert set(STATUS) == set(errors.KINDS)


@pytest.mark.parametrize(("error", "status", "code"), [
    (errors.NotFound("call not found"), 404, "not_found"),
    (errors.Forbidden("this is not your call"), 403, "forbidden"),
    (errors.NotVerified("verify the caller first"), 403, "caller_not_verified"),
    (errors.Conflict("on hold"), 409, "conflict"),
    (errors.Conflict("below zero", code="balance_below_zero"), 409, "balance_below_zero"),
    (errors.Invalid("agent_id: no such agent"), 422, "invalid"),
    (errors.Unavailable("not connected"), 503, "asterisk_unavailable"),
    (errors.Unavailable("no provider", code="payments_unavailable"), 503, "payments_unavailable"),
    (errors.Unavailable("refused", code="provider_unavailable"), 503, "provider_unavailable"),
    (errors.BadRequest("malformed"), 400, "bad_request"),
])  # fmt: skip
def test_a_desk_refusal_keeps_its_code_and_message_with_its_status(
    error: errors.DeskError, status: int, code: str
) -> None:
    answered = api_error(error)

    assert (answered.status, answered.code, answered.message) == (status, code, error.message)
