"""The caller's identity and credits in a call, from the desk."""

from __future__ import annotations

import pytest

from pbx.desk.commands import CallWithAccount, GrantCreditInCall, VerifyCaller
from pbx.desk.errors import Forbidden, NotFound, NotVerified
from pbx.desk.results import CallerVerified, CallOfAccount
from tests.desk.fakes import a_call, avi, dana, desk_with


async def test_an_unverified_caller_cannot_be_credited() -> None:
    desk, _, money = desk_with(a_call("c-1"), needs_verification=True)

    with pytest.raises(NotVerified) as refused:
        await desk.run(GrantCreditInCall("c-1", 70, 500, "goodwill"), dana)

    assert refused.value.code == "caller_not_verified" and money.credits == []


async def test_a_caller_the_agent_verified_by_questions_is_credited() -> None:
    desk, _, money = desk_with(a_call("c-1"), needs_verification=True)

    verified = await desk.run(VerifyCaller("c-1", ("date_of_birth",)), dana)
    credit = await desk.run(GrantCreditInCall("c-1", 70, 500, "goodwill"), dana)

    assert verified == CallerVerified("c-1", "agent_questions", ("date_of_birth",))
    assert credit.amount_minor == 500 and len(money.credits) == 1  # type: ignore[union-attr]


async def test_a_caller_the_ivr_verified_by_pin_is_credited() -> None:
    desk, _, money = desk_with(a_call("c-1", ivr_verified="pin"), needs_verification=True)

    await desk.run(GrantCreditInCall("c-1", 70, 500, "goodwill"), dana)

    assert [c.ivr_outcome for c in money.credits] == ["pin"]


async def test_a_credit_in_a_call_goes_only_on_the_callers_own_account() -> None:
    desk, _, money = desk_with(a_call("c-1"))

    with pytest.raises(NotFound):
        await desk.run(GrantCreditInCall("c-1", 80, 500, "goodwill"), dana)
    assert money.credits == []


async def test_another_agent_cannot_verify_the_caller() -> None:
    desk, _, money = desk_with(a_call("c-1"))

    with pytest.raises(Forbidden):
        await desk.run(VerifyCaller("c-1", ("date_of_birth",)), avi)
    assert money.verified_by_agent == set()


async def test_the_call_with_an_account_is_the_agents_connected_call_with_its_owner() -> None:
    desk, _, _ = desk_with(a_call("ringing", connected=False), a_call("c-1"),
                           a_call("other", customer_id=8))  # fmt: skip

    assert await desk.run(CallWithAccount(70), dana) == CallOfAccount("c-1")
    assert await desk.run(CallWithAccount(70), avi) == CallOfAccount(None)
    assert await desk.run(CallWithAccount(999), dana) == CallOfAccount(None)
