"""Call control on the desk: whose call it is, and where a transfer goes."""

from __future__ import annotations

import pytest

from pbx.desk.commands import CancelTransfer, HangUp, Hold, Resume, Transfer
from pbx.desk.errors import Forbidden, Invalid, NotFound, Unavailable
from pbx.desk.ports import AgentProfile
from tests.desk.fakes import AVI, OTHER_BUSINESS, a_call, avi, dana, desk_with, sam


async def test_an_agent_holds_and_resumes_their_own_call() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    await desk.run(Hold("c-1"), dana)
    await desk.run(Resume("c-1"), dana)

    assert live.done == [("hold", "c-1"), ("resume", "c-1")]


async def test_hold_on_another_agents_call_is_forbidden() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(Forbidden) as refused:
        await desk.run(Hold("c-1"), avi)

    assert refused.value.code == "forbidden" and live.done == []


async def test_a_supervisor_hangs_up_any_call_of_their_business() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    await desk.run(HangUp("c-1"), sam)

    assert live.done == [("hang_up", "c-1")]


async def test_a_call_of_another_business_is_not_found() -> None:
    desk, live, _ = desk_with(a_call("c-1", tenant_id=OTHER_BUSINESS))

    with pytest.raises(NotFound):
        await desk.run(CancelTransfer("c-1"), sam)
    assert live.done == []


async def test_a_call_that_ended_is_not_found() -> None:
    desk, _, _ = desk_with()

    with pytest.raises(NotFound) as refused:
        await desk.run(Hold("gone"), dana)

    assert refused.value.message == "call not found"


async def test_nothing_is_done_while_asterisk_is_away() -> None:
    desk, live, _ = desk_with(a_call("c-1"))
    live.ready = False

    with pytest.raises(Unavailable) as refused:
        await desk.run(Hold("c-1"), dana)

    assert refused.value.code == "asterisk_unavailable" and live.done == []


async def test_a_transfer_to_a_queue_goes_there_blind() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    await desk.run(Transfer("c-1", queue="1:billing"), dana)

    assert live.done == [("transfer", "1:billing")]


async def test_an_attended_transfer_to_a_colleague_dials_them() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    await desk.run(Transfer("c-1", mode="attended", agent_id=AVI), dana)

    assert live.done == [("transfer", (AVI, "attended"))]


async def test_a_transfer_to_an_agent_of_another_business_is_invalid() -> None:
    desk, live, _ = desk_with(a_call("c-1"))
    live.profiles[99] = AgentProfile(99, OTHER_BUSINESS)

    with pytest.raises(Invalid) as refused:
        await desk.run(Transfer("c-1", agent_id=99), dana)

    assert "agent_id" in refused.value.message and live.done == []
