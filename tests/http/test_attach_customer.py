"""A household's call through /api/v1 and the desk's socket: the pop lists who shares the
number, the agent on the call attaches the one on the line (or one found by search), the
call log, the recording and the audit log follow, and the desk gets the panel."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import AuditEntry, Call, Recording
from tests.factories import make_customer, make_tenant
from tests.http.conftest import Site
from tests.http.test_desk_socket import open_desk, token_for

HOME = "+972502345678"  # the household's number, as the caller ID 0502345678 reads in IL


async def test_the_agent_attaches_a_household_member_and_the_call_log_recording_and_desk_follow(
    site: Site, desk
) -> None:
    world, avi, bella = site.world, desk["avi"], desk["bella"]
    tenant = world.tenant_id
    dana = await make_customer(world.database, tenant, "C-2", "Dana Levi", [HOME], [
        {"currency": "ILS", "balance_minor": 12_000, "status": "overdue"}])  # fmt: skip
    yossi = await make_customer(world.database, tenant, "C-1", "Yossi Levi", [HOME])
    stranger = await make_customer(world.database, tenant, "C-3", "Noa Cohen", ["+972509999999"])
    other = await make_tenant(world.database, "other", "IL", "ILS", ["+97237630199"])
    theirs = await make_customer(world.database, other, "X-1", "Not Theirs", [HOME])
    avi_desk = await open_desk(site.url, await token_for(site, "avi"))
    try:
        await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
        call = await world.call("0502345678")
        pop = (await avi_desk.next("call.offered"))["data"]
        await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
        live = world.flow.state.calls[call.channel_id]
        await world.until(lambda: live.recording_id is not None, "recorded")
        attach = f"/calls/{call.channel_id}/customer"

        assert (pop["match"], pop["panel"]) == ("ambiguous", None)
        members = pop["household"]["members"]
        assert [(m["name"], m["balance_minor"], m["currency"]) for m in members] == [
            ("Dana Levi", 12_000, "ILS"), ("Yossi Levi", 0, None)]  # fmt: skip
        assert pop["household"]["more"] == 0

        refused = [
            (bella, {"customer_id": dana}, 403),  # not her call
            (avi, {"customer_id": theirs}, 404),  # another business's customer
            (avi, {"customer_id": 424242}, 404),
            (avi, {"customer_id": stranger}, 422),  # not of the household: only by search
            (avi, {"customer_id": str(dana)}, 422),
            (avi, {"customer_id": True}, 422),
            (avi, {"customer_id": 2**70}, 422),
            (avi, {"customer_id": dana, "via": "guess"}, 422),
            (avi, {"customer_id": dana, "account_id": 1}, 422),
            (avi, [dana], 422),
        ]  # fmt: skip
        for who, body, status in refused:
            assert (await who.call("POST", attach, body))[0] == status, body
        deep = ("[" * 5000 + "]" * 5000).encode()
        assert 400 <= (await avi.send("POST", attach, deep))[0] < 500
        assert (await avi.call("POST", "/calls/nope/customer", {"customer_id": dana}))[0] == 404
        assert live.customer_id is None

        status, attached = await avi.call("POST", attach, {"customer_id": yossi})
        assert status == 200 and attached == {"call_id": call.channel_id, "customer_id": yossi,
                                              "previous_customer_id": None}  # fmt: skip
        assert (await avi_desk.next("account.updated"))["data"]["panel"]["customer"]["ref"] == "C-1"
        status, attached = await avi.call("POST", attach, {"customer_id": dana})  # wrong pick
        assert status == 200 and attached["previous_customer_id"] == yossi
        update = (await avi_desk.next("account.updated"))["data"]
        assert (update["call_id"], update["customer_id"]) == (call.channel_id, dana)
        assert [a["balance_minor"] for a in update["panel"]["accounts"]] == [12_000]
        assert live.customer_id == dana

        async with world.database.tenant_session(tenant) as session:
            row = await session.scalar(select(Call).where(Call.channel_id == call.channel_id))
            recorded = list(await session.scalars(select(Recording.customer_id)
                                                  .where(Recording.call_id == row.id)))  # fmt: skip
            audited = list(await session.execute(
                select(AuditEntry.actor_id, AuditEntry.details)
                .where(AuditEntry.action == "call.customer_attached").order_by(AuditEntry.id)
            ))  # fmt: skip
        assert row.customer_id == dana and recorded == [dana]
        assert [(actor, d["customer_id"], d["previous_customer_id"], d["via"])
                for actor, d in audited] == [
            (int(world.agents["avi"]), yossi, None, "household"),
            (int(world.agents["avi"]), dana, yossi, "household"),
        ]  # fmt: skip

        # Found by search, the caller need not share the number; a supervisor may attach too.
        body = {"customer_id": stranger, "via": "search"}
        status, attached = await desk["sam"].call("POST", attach, body)
        assert status == 200 and attached["previous_customer_id"] == dana
        assert (await avi_desk.next("account.updated"))["data"]["customer_id"] == stranger
        await call.hangup()
        await world.until(lambda: world.flow.state.calls == {}, "ended")
        async with world.database.tenant_session(tenant) as session:
            assert await session.scalar(select(Call.customer_id).where(Call.id == row.id)) == (
                stranger)  # the call log keeps the latest, through the call's end
    finally:
        await avi_desk.close()
