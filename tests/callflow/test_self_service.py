"""Self-service in the IVR through the Asterisk simulator: the balance read out in the
caller's language, identification by account number and PIN or date of birth (tries limited
per call and per account), a caller who asks for an agent keeps their priority, and one who
keys nothing the menu offers is put through to the queue."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, update

from billing_bridge.identification.model import PRIORITY_COLLECTIONS
from billing_bridge.ivr_identity import MAX_FAILURES
from billing_bridge.verification import hash_pin
from pbx.callflow import self_service as ss
from pbx.db.models import Account, Customer, IvrIdentityFailure
from pbx.simulator.ari.scripts import Call as SimCall
from pbx.voice import saying
from tests.callflow.world import World
from tests.factories import make_customer

PHONE = "+972502345678"
MENU = {"balance": True, "card": False, "mandate": False}


async def dana(world: World, *, language: str | None = None, phones: tuple[str, ...] = (PHONE,),
               owed: int = 45_050, overdue: int = 20_000) -> int:  # fmt: skip
    """Dana Cohen, account 4455 in ILS: owes `owed`, of it `overdue` past due."""
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana Cohen",
                                   list(phones), [{
        "ref": "4455", "currency": "ILS", "balance_minor": owed, "status": "overdue",
        "invoices": [
            {"amount_minor": overdue, "due_on": date(2026, 1, 10), "status": "open"},
            {"amount_minor": owed - overdue, "due_on": date(2099, 1, 10), "status": "open"},
        ],
    }])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        await session.execute(update(Customer).where(Customer.id == customer).values(
            language=language, pin_hash=hash_pin("2468"), date_of_birth=date(1980, 5, 17)))
    return customer


async def line(world: World, menu: dict[str, object] = MENU, language: str | None = None) -> None:
    await world.add_queue("support")
    await world.add_route("support", self_service=menu, language=language)
    await world.start_ledgerline()


async def chosen(world: World, call: SimCall, key: str, times: int = 1) -> None:
    """The caller presses `key` once the menu has been offered `times` times."""
    await world.until(lambda: call.heard.count(ss.OPTION_AGENT) >= times, "the menu")
    await call.press(key)


def after(heard: list[str], start: str) -> list[str]:
    return heard[heard.index(start):]


@pytest.mark.parametrize("language", ["en", "he", "lt"])
async def test_an_identified_caller_hears_the_balance_and_the_overdue_amount_in_their_language(
    world: World, language: str
) -> None:
    await dana(world)
    await line(world, language=language)  # the line's language: the caller's channel's
    call = await world.call()

    await chosen(world, call, "1")
    await world.until(lambda: call.heard.count(ss.OPTION_AGENT) >= 2, "the menu again")
    expected = [ss.BALANCE_IS, *saying.money(45_050, "ILS", language),
                ss.OVERDUE_IS, *saying.money(20_000, "ILS", language)]  # fmt: skip
    assert after(call.heard, ss.BALANCE_IS)[: len(expected)] == expected
    assert call.heard[call.heard.index(ss.BALANCE_IS) - 1] == ss.OPTION_AGENT  # menu, then it

    row = await world.record_when(call, lambda r: r.self_service == ["balance"], "logged")
    assert row.self_service_resolved is True
    await call.hangup()
    row = await world.record_when(call, lambda r: r.ended_at is not None, "ended")
    assert row.self_service == ["balance"] and row.self_service_resolved is True
    assert row.agent_id is None and row.queued_at is None


async def test_a_caller_who_owes_nothing_hears_so(world: World) -> None:
    await dana(world, owed=0, overdue=0)
    await line(world)
    call = await world.call()
    await chosen(world, call, "1")
    await world.until(lambda: ss.NOTHING_OWED in call.heard, "told they owe nothing")
    assert ss.BALANCE_IS not in call.heard


async def test_a_caller_who_asks_for_an_agent_is_queued_at_their_priority(world: World) -> None:
    await dana(world)
    await line(world)
    call = await world.call()
    await chosen(world, call, "1")
    await chosen(world, call, "9", times=2)  # 9 as well as 0: an agent

    await world.until(lambda: world.phase_of(call) == "queued", "queued")
    flow_call = world.flow.state.calls[call.channel_id]
    assert flow_call.priority == PRIORITY_COLLECTIONS  # overdue: collections, as identified
    assert flow_call.self_service == ["balance", "agent"]
    row = await world.record_when(call, lambda r: r.self_service == ["balance", "agent"], "log")
    assert row.self_service_resolved is False


async def test_a_caller_who_keys_nothing_the_menu_offers_is_asked_again_then_queued(
    world: World,
) -> None:
    await dana(world)
    await line(world, MENU | {"attempts": 2})
    call = await world.call()
    await chosen(world, call, "7")
    await world.until(lambda: "sound:option-is-invalid" in call.heard, "told it is not valid")
    await chosen(world, call, "*", times=2)

    await world.until(lambda: world.phase_of(call) == "queued", "queued after two tries")
    assert call.heard.count("sound:option-is-invalid") == 2
    row = await world.record_when(call, lambda r: r.self_service == ["no_choice"], "logged")
    assert row.self_service_resolved is False


async def identify(world: World, call: SimCall, account: str, secret: str, n: int = 1) -> None:
    await world.until(lambda: call.heard.count(ss.ENTER_ACCOUNT) >= n, "asked the account")
    await call.press(account + "#")
    await world.until(
        lambda: call.heard.count("sound:ledgerline-enter-pin")
        + call.heard.count("sound:ledgerline-enter-date-of-birth") >= n, "asked the secret")
    await call.press(secret + "#")


async def test_an_unknown_caller_identifies_by_account_number_and_pin(world: World) -> None:
    customer = await dana(world, phones=())
    await line(world, MENU | {"identify": "pin"})
    call = await world.call("0509999999")  # a number nobody has

    await identify(world, call, "4455", "1111")  # wrong PIN first
    await world.until(lambda: "sound:auth-incorrect" in call.heard, "told it is wrong")
    await identify(world, call, "4455", "2468", n=2)
    await chosen(world, call, "1")
    await world.until(lambda: ss.BALANCE_IS in call.heard, "the balance, now they are known")

    row = await world.record_when(call, lambda r: r.self_service == ["identified", "balance"],
                                  "logged")  # fmt: skip
    assert (row.customer_id, row.verified, row.priority) == (customer, "pin", 5)
    assert "2468" not in str(world.flow.state.to_dict())
    assert await failures(world) == 1


async def test_an_ambiguous_caller_identifies_by_date_of_birth(world: World) -> None:
    await dana(world)
    await make_customer(world.database, world.tenant_id, "C-2", "Avi Cohen", [PHONE])
    await line(world, MENU | {"identify": "date_of_birth"})
    call = await world.call()  # two customers share the number

    await identify(world, call, "4455", "17051980")
    await chosen(world, call, "0")
    await world.until(lambda: world.phase_of(call) == "queued", "queued")
    row = await world.record_when(call, lambda r: r.verified is not None, "logged")
    assert row.verified == "date_of_birth" and row.self_service == ["identified", "agent"]
    assert world.flow.state.calls[call.channel_id].priority == PRIORITY_COLLECTIONS


async def test_wrong_tries_are_limited_per_call_then_the_caller_is_queued_unknown(
    world: World,
) -> None:
    await dana(world, phones=())
    await line(world, MENU | {"identify": "pin", "identify_attempts": 2})
    call = await world.call("0509999999")
    await identify(world, call, "4455", "0000")
    await identify(world, call, "4455", "0000", n=2)

    await world.until(lambda: world.phase_of(call) == "queued", "queued unidentified")
    assert ss.NOT_IDENTIFIED in call.heard and ss.OPTION_AGENT not in call.heard
    row = await world.record_when(call, lambda r: r.self_service == ["not_identified"], "log")
    assert row.customer_id is None and row.verified is None
    assert await failures(world) == 2


async def test_an_account_guessed_at_too_often_is_locked_even_with_the_right_pin(
    world: World,
) -> None:
    customer = await dana(world, phones=())
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        session.add_all(IvrIdentityFailure(account_id=account) for _ in range(MAX_FAILURES))
    await line(world, MENU | {"identify": "pin", "identify_attempts": 1})
    call = await world.call("0509999999")
    await identify(world, call, "4455", "2468")  # right, but the account is locked

    await world.until(lambda: world.phase_of(call) == "queued", "queued unidentified")
    row = await world.record_when(call, lambda r: r.self_service == ["not_identified"], "log")
    assert row.customer_id is None
    assert await failures(world) == MAX_FAILURES  # a locked account's tries are not compared


async def failures(world: World) -> int:
    async with world.database.tenant_session(world.tenant_id) as session:
        return int(await session.scalar(select(func.count()).select_from(IvrIdentityFailure)))


async def test_an_unknown_caller_on_a_line_that_does_not_identify_goes_straight_to_the_queue(
    world: World,
) -> None:
    await dana(world, phones=())
    await line(world)  # identify: none
    call = await world.call("0509999999")
    await world.until(lambda: world.phase_of(call) == "queued", "queued")
    assert ss.ENTER_ACCOUNT not in call.heard and ss.OPTION_AGENT not in call.heard
    row = await world.record(call)
    assert row.self_service is None and row.self_service_resolved is None
