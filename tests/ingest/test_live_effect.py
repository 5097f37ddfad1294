"""A committed change reaches the calls at once: the caller lookup forgets the customer's
numbers, and an agent on a call with that customer sees the panel as it is now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pbx.db.models import Call, Customer
from tests.http.support import ApiClient
from tests.http.test_desk_socket import open_desk
from tests.ingest.conftest import OFEK_DID, PASSWORD, Door, Machine

SARA = {"name": "Sara Cohen", "phones": ["0502345678", "037630111"], "version": 1}
OVERDUE = {"account": "A-1", "amount": 45_050, "issued": "2026-01-01", "due": "2026-01-31",
           "version": 1}  # fmt: skip


async def _business(door: Door) -> tuple[Machine, int]:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write", "billing:read")
    assert (await machine.send("PUT", "/billing/customers/C-1", SARA)).status == 200
    account = {"customer": "C-1", "version": 1}
    assert (await machine.send("PUT", "/billing/accounts/A-1", account)).status == 200
    return machine, tenant


async def _on_a_call(door: Door, tenant: int, agent: int, *, ended: bool = False) -> Call:
    async with door.database.tenant_session(tenant) as session, session.begin():
        customer = await session.scalar(select(Customer.id).where(Customer.customer_ref == "C-1"))
        now = datetime.now(UTC)
        call = Call(channel_id=f"chan-{agent}-{ended}", caller_number="+972502345678",
                    caller_raw="0502345678", match="unique", customer_id=customer,
                    agent_id=agent, arrived_at=now - timedelta(minutes=2),
                    answered_at=now - timedelta(minutes=1),
                    ended_at=now if ended else None)  # fmt: skip
        session.add(call)
    return call


async def test_an_invoice_change_forgets_the_customer_s_numbers(door: Door) -> None:
    machine, _ = await _business(door)
    door.forgotten.clear()

    await machine.send("PUT", "/billing/invoices/I-1", OVERDUE)

    assert door.numbers_forgotten() == {"+972502345678", "+97237630111"}


async def test_a_stale_record_forgets_nothing(door: Door) -> None:
    machine, _ = await _business(door)
    door.forgotten.clear()

    await machine.send("PUT", "/billing/customers/C-1", SARA | {"version": 0})

    assert door.forgotten == []


async def test_the_agent_on_a_call_with_the_customer_sees_the_new_panel(door: Door) -> None:
    machine, tenant = await _business(door)
    avi = await door.agent(tenant, "avi")
    bella = await door.agent(tenant, "bella")
    call = await _on_a_call(door, tenant, avi)
    await _on_a_call(door, tenant, bella, ended=True)  # her call with Sara is over
    avi_desk = await open_desk(door.url, await sign_in(door, "avi"))
    try:
        await machine.send("PUT", "/billing/invoices/I-1", OVERDUE)

        update = (await avi_desk.next("account.updated"))["data"]
        assert update["call_id"] == call.channel_id and update["record_id"] == call.id
        overdue = update["panel"]["overdue_invoices"]
        assert [(i["ref"], i["outstanding_minor"]) for i in overdue] == [("I-1", 45_050)]
        assert all(c["id"] != call.id for c in update["panel"]["recent_calls"])
        await machine.send("PUT", "/billing/customers/C-1", SARA | {"version": 2})
        assert (await avi_desk.next("account.updated"))["data"]["record_id"] == call.id
        # Bella's call with Sara is over: no update was addressed to her.
        sent = door.hub.events._entries[tenant]  # type: ignore[attr-defined]
        audiences = {e.audience.agents for _, e in sent if e.type == "account.updated"}
        assert audiences == {(avi,)}
    finally:
        await avi_desk.close()


async def sign_in(door: Door, username: str) -> str:
    client = ApiClient(door.url, {"paths": {}, "components": {}})
    try:
        async with client._http.post(
            f"{door.url}/api/v1/auth/login",
            json={"tenant": "ofek", "username": username, "password": PASSWORD},
        ) as response:  # fmt: skip
            assert response.status == 200
            return (await response.json())["token"]
    finally:
        await client.close()
