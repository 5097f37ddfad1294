"""What happens before the queue: identification sources, keypad verification, opening
hours, priorities, and numbers Ledgerline does not serve."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from billing_bridge.verification import hash_pin
from pbx.acd.agents import AgentState
from pbx.callflow.admission import _ON_FILE
from pbx.db.direct import prepare
from pbx.db.models import BusinessHours, Customer, InboundRoute
from tests.callflow.world import World
from tests.factories import make_customer

CUSTOMER_PHONE = "+972502345678"


async def _customer(world: World, **columns: object) -> int:
    customer_id = await make_customer(
        world.database, world.tenant_id, "C-1", "Dana", [CUSTOMER_PHONE],
        accounts=[{"currency": "ILS", "balance_minor": 0, "status": "active"}],
    )  # fmt: skip
    if columns:
        async with world.database.tenant_session(world.tenant_id) as session, session.begin():
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(**columns)
            )
    return customer_id


async def test_the_caller_keys_their_pin_and_the_call_log_says_verified(world: World) -> None:
    await _customer(world, pin_hash=hash_pin("2468"))
    await world.add_queue("support")
    await world.add_route("support", verification="pin")
    await world.start_ledgerline()

    call = await world.call()
    await world.until(lambda: "sound:ledgerline-enter-pin" in call.heard, "asked for the PIN")
    await call.press("1111#")  # wrong first
    await world.until(lambda: "sound:auth-incorrect" in call.heard, "told it is wrong")
    await call.press("2468#")

    row = await world.record_when(call, lambda r: r.verified is not None, "verified")
    assert row.verified == "pin"
    assert "sound:auth-thankyou" in call.heard
    await world.until(lambda: world.phase_of(call) == "queued", "then queued")
    assert "2468" not in str(world.flow.state.to_dict())


def test_what_the_keyed_identity_is_checked_against_is_read_straight_from_postgresql() -> None:
    """One prebuilt statement through asyncpg (`pbx/db/direct.py`), not an ORM session."""
    assert prepare(_ON_FILE, asyncpg_dialect()) is not None


async def test_a_caller_who_fails_verification_still_reaches_the_queue(world: World) -> None:
    await _customer(world, date_of_birth=date(1980, 5, 17))
    await world.add_queue("support")
    await world.add_route("support", verification="date_of_birth", verification_attempts=2)
    await world.start_ledgerline()

    call = await world.call()
    for attempt in range(2):
        await world.until(
            lambda n=attempt: call.heard.count("sound:ledgerline-enter-date-of-birth") > n, "asked"
        )
        await call.press("01011990#")

    row = await world.record_when(call, lambda r: r.verified is not None, "result stored")
    assert row.verified == "failed"
    await world.until(lambda: world.phase_of(call) == "queued", "queued for an agent to check")


async def test_identification_set_by_the_dialplan_is_used_as_it_is(world: World) -> None:
    await world.add_queue("support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call(variables={
        "LL_MATCH": "unique", "LL_CUSTOMER_ID": "", "LL_PRIORITY": "10",
        "LL_ACCOUNT_STATUS": "active",
    })  # fmt: skip

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert (row.match, row.priority) == ("unique", 10)


async def test_a_vip_is_served_before_callers_who_came_earlier(world: World) -> None:
    await _customer(world)
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    early = await world.call("0523456789")
    vip = await world.call("0544567890", variables={"LL_MATCH": "unique", "LL_PRIORITY": "10"})
    # Each caller is admitted in its own lane: both are waited for, or the VIP could be
    # served first only because the earlier caller was not in the queue yet.
    await world.until(lambda: world.phase_of(early) == world.phase_of(vip) == "queued",
                      "both waiting")  # fmt: skip

    await world.login("avi")

    await world.until(lambda: world.connected_to(vip) is not None, "the VIP first")
    assert world.connected_to(early) is None


async def test_collections_callers_go_to_the_collections_queue(world: World) -> None:
    await make_customer(
        world.database, world.tenant_id, "C-9", "Late Payer", [CUSTOMER_PHONE],
        accounts=[{"currency": "ILS", "balance_minor": 50_000, "status": "overdue"}],
    )  # fmt: skip
    await world.add_queue("support")
    collections = await world.add_queue("collections")
    await world.add_route("support", collections_queue_id=collections)
    await world.start_ledgerline()

    call = await world.call()

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert row.queue_id == collections and row.priority == 5


async def test_out_of_hours_the_caller_hears_the_closed_message(world: World) -> None:
    await world.add_queue("support")
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        never = BusinessHours(name="never", timezone="Asia/Jerusalem", weekly=[])
        session.add(never)
        await session.flush()
        hours_id = never.id
    await world.add_route("support", business_hours_id=hours_id)
    await world.start_ledgerline()

    call = await world.call()

    await world.until(lambda: call.state == "Hungup", "played and hung up")
    assert "sound:ledgerline-closed" in call.heard
    row = await world.record_when(call, lambda r: r.ended_at is not None, "logged")
    assert row.outcome == "closed" and row.queued_at is None


async def test_a_did_with_no_route_is_told_no_service_and_logged(world: World) -> None:
    await world.add_queue("support")  # but no route
    await world.start_ledgerline()

    call = await world.call()

    await world.until(lambda: call.state == "Hungup", "hung up")
    assert "sound:ss-noservice" in call.heard
    assert (await world.record(call)).outcome == "failed"


async def test_a_number_of_no_tenant_is_refused_without_a_call_log_row(world: World) -> None:
    await world.start_ledgerline()

    call = await world.sim.incoming_call("039999999", "0502345678")

    await world.until(lambda: call.state == "Hungup", "refused")
    assert world.flow.state.calls == {}


async def test_an_admin_change_reaches_a_waiting_caller_at_once(world: World) -> None:
    await world.add_queue("support")
    await world.add_queue("sales")
    await world.add_agent("avi", "1001", "sales")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    call = await world.call()
    await world.until(lambda: world.phase_of(call) == "queued", "waiting, nobody in support")

    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        from pbx.db.models import QueueMember

        session.add(QueueMember(queue_id=world.queues["support"], user_id=int(world.agents["avi"])))
    await world.flow.reload_config()

    await world.until(lambda: world.connected_to(call) is not None, "served by the new member")
    assert world.state_of("avi") is AgentState.ON_CALL
    assert InboundRoute  # routes are read by the same reload


async def test_the_menu_sends_the_caller_to_the_queue_they_choose(world: World) -> None:
    await world.add_queue("support")
    billing = await world.add_queue("billing")
    menu = {"prompt": "ledgerline-menu", "options": {"1": "support", "2": "billing"}}
    await world.add_route("support", menu=menu)
    await world.start_ledgerline()

    call = await world.call()
    await world.until(lambda: "sound:ledgerline-menu" in call.heard, "menu played")
    await call.press("7")  # not an option
    await world.until(lambda: "sound:option-is-invalid" in call.heard, "told so")
    await call.press("2")

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert row.queue_id == billing


async def test_a_caller_who_chooses_nothing_reaches_the_routes_own_queue(world: World) -> None:
    support = await world.add_queue("support")
    await world.add_queue("billing")
    await world.add_route("support", menu={"options": {"2": "billing"}})
    await world.start_ledgerline()

    call = await world.call()  # presses nothing: two silent tries of a second each

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert row.queue_id == support


async def test_the_lookup_arrives_with_stasis_start_when_ari_sends_channelvars(
    world: World,
) -> None:
    world.sim.model.channelvars = frozenset({"LL_MATCH", "LL_CUSTOMER_ID", "LL_PRIORITY",
                                             "LL_ACCOUNT_STATUS"})  # fmt: skip
    await world.add_queue("support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call(variables={"LL_MATCH": "unique", "LL_PRIORITY": "10"})

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert (row.match, row.priority) == ("unique", 10)
    reads = [r for r in world.sim.requests if r[1].endswith("/variable")]
    assert reads == []  # nothing asked over REST: it came with the event


async def test_without_caller_lookup_the_call_flow_identifies_and_asks_ari_nothing(
    world: World,
) -> None:
    world.sim.model.channelvars = frozenset({"LL_MATCH", "LL_CUSTOMER_ID", "LL_PRIORITY",
                                             "LL_ACCOUNT_STATUS"})  # fmt: skip
    customer = await _customer(world)
    await world.add_queue("support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call()  # an ARI-only dialplan: no caller-lookup before Stasis

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert (row.match, row.customer_id, row.caller_number) == ("unique", customer, CUSTOMER_PHONE)
    assert [r for r in world.sim.requests if r[1].endswith("/variable")] == []


async def test_only_the_variables_stasis_start_did_not_carry_are_asked_of_ari(
    world: World,
) -> None:
    world.sim.model.channelvars = frozenset({"LL_MATCH"})  # an older ari.conf
    await world.add_queue("support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call(variables={"LL_MATCH": "unique", "LL_PRIORITY": "10"})

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert (row.match, row.priority) == ("unique", 10)
    asked = sorted(r[2]["variable"] for r in world.sim.requests if r[1].endswith("/variable"))
    assert asked == ["LL_ACCOUNT_STATUS", "LL_CUSTOMER_ID", "LL_PRIORITY"]


async def test_malformed_lookup_variables_are_logged_once_and_the_caller_identified_here(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await _customer(world)
    await world.add_queue("support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call(variables={"LL_MATCH": "unique", "LL_CUSTOMER_ID": "²"})

    row = await world.record_when(call, lambda r: r.queued_at is not None, "queued")
    assert (row.match, row.customer_id) == ("unique", customer)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "LL_CUSTOMER_ID" in errors[0].getMessage()
    assert "²" not in errors[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
