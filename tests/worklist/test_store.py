"""The worklist in the database (both databases): the build's rules and score, compliance
at the claim and at the dial, the claim race, the attempts cap, outcomes and callbacks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from billing_bridge.collections.errors import Conflict, Forbidden, Invalid
from billing_bridge.worklist import claims, rules, store
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import Call, Customer, Promise
from tests.worklist.support import NOW, TODAY, open_shop

ADMIN = By("admin:ada", None)
POLICY = rules.Policy()


async def test_the_build_lists_accounts_overdue_long_enough_with_their_score_parts(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, old = await shop.customer("old", TODAY - timedelta(days=40), owed=120_000)
    await shop.customer("fresh", TODAY - timedelta(days=3))
    report = await store.build(database, shop.tenant_id, NOW)
    entries = await shop.entries()
    assert report.listed == 1 and set(entries) == {old}
    entry = entries[old]
    assert entry.reasons == ["overdue_no_contact"]
    expected = rules.score(120_000, 40, None, 0)
    assert (entry.days_overdue, entry.days_since_contact, entry.score) == (40, None,
                                                                             expected.total)


async def test_a_recent_contact_a_dispute_or_a_promise_keeps_an_account_off(
    database: Database,
) -> None:
    shop = await open_shop(database)
    talked, talked_account = await shop.customer("talked", TODAY - timedelta(days=40))
    _, held = await shop.customer("held", TODAY - timedelta(days=40))
    _, promised = await shop.customer("promised", TODAY - timedelta(days=40))
    _, listed = await shop.customer("listed", TODAY - timedelta(days=40))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Call(channel_id="in-1", caller_raw="x", match="unique", customer_id=talked,
                         arrived_at=NOW - timedelta(days=2),
                         answered_at=NOW - timedelta(days=2)))  # fmt: skip
        session.add(Promise(account_id=promised, amount_minor=100, currency="EUR",
                            due_on=TODAY + timedelta(days=3), method="pay_link",
                            overdue_minor=50_000))  # fmt: skip
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        from billing_bridge.reminders.store import set_hold

        await set_hold(session, shop.tenant_id, held, "disputed", actor=ADMIN, now=NOW)
    await store.build(database, shop.tenant_id, NOW)
    assert set(await shop.entries()) == {listed}
    assert talked_account not in await shop.entries()


async def test_a_callback_requested_lists_the_account_until_it_is_served(
    database: Database,
) -> None:
    shop = await open_shop(database)
    customer, account = await shop.customer("caller", TODAY - timedelta(days=2))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Call(channel_id="in-1", caller_raw="x", match="unique",
                         customer_id=customer, outcome="callback",
                         arrived_at=NOW - timedelta(hours=5)))  # fmt: skip
    await store.build(database, shop.tenant_id, NOW)
    assert (await shop.entries())[account].reasons == ["callback"]
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Call(channel_id="in-2", caller_raw="x", match="unique",
                         customer_id=customer, arrived_at=NOW - timedelta(hours=1),
                         answered_at=NOW - timedelta(hours=1)))  # fmt: skip
    await store.build(database, shop.tenant_id, NOW + timedelta(minutes=1))
    assert await shop.entries() == {}  # served: they called again and were answered


async def test_an_account_paid_since_the_last_build_leaves_the_queue(database: Database) -> None:
    shop = await open_shop(database)
    _, account = await shop.customer("payer", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        from pbx.db.models import Account

        row = await session.get(Account, account)
        assert row is not None
        row.balance_minor = 0
    report = await store.build(database, shop.tenant_id, NOW + timedelta(minutes=1))
    assert report.removed == 1 and await shop.entries() == {}


async def test_two_agents_asking_at_once_get_different_entries(database: Database) -> None:
    shop = await open_shop(database)
    for ref in ("a", "b", "c"):
        await shop.customer(ref, TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    first, second = await asyncio.gather(
        claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, NOW),
        claims.claim_next(database, shop.tenant_id, shop.other_agent, POLICY, NOW),
    )
    assert first.entry is not None and second.entry is not None
    assert first.entry.id != second.entry.id
    again = await claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, NOW)
    assert again.entry is not None and again.entry.id == first.entry.id  # still theirs


async def test_an_expired_claim_goes_to_the_next_agent(database: Database) -> None:
    shop = await open_shop(database)
    await shop.customer("only", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    held = await claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, NOW)
    assert held.entry is not None
    nothing = await claims.claim_next(database, shop.tenant_id, shop.other_agent, POLICY, NOW)
    assert nothing.entry is None
    later = NOW + timedelta(minutes=POLICY.claim_minutes + 1)
    taken = await claims.claim_next(database, shop.tenant_id, shop.other_agent, POLICY, later)
    assert taken.entry is not None and taken.entry.id == held.entry.id


async def test_a_claim_at_night_passes_the_entry_over_naming_the_window(
    database: Database,
) -> None:
    shop = await open_shop(database)
    await shop.customer("night", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    night = NOW.replace(hour=20)  # 22:00 in Vilnius
    claimed = await claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, night)
    assert claimed.entry is None and [p.code for p in claimed.passed] == ["outside_window"]


async def test_the_dial_checks_again_and_records_the_attempt_linked_to_the_call(
    database: Database,
) -> None:
    shop = await open_shop(database)
    customer, account = await shop.customer("dana", TODAY - timedelta(days=40),
                                            phone="+37060000001")  # fmt: skip
    await store.build(database, shop.tenant_id, NOW)
    claimed = await claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, NOW)
    assert claimed.entry is not None
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.add_do_not_call(session, shop.tenant_id, "+37060000001", "asked",
                                    actor=ADMIN, now=NOW)  # fmt: skip
    with pytest.raises(Conflict) as refused:
        await claims.place_call(database, shop.tenant_id, claimed.entry.id, shop.agent, POLICY,
                                NOW, shop.place)  # fmt: skip
    assert refused.value.code == "do_not_call_number" and shop.placed == []
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.remove_do_not_call(session, shop.tenant_id, "+37060000001", actor=ADMIN,
                                       now=NOW)  # fmt: skip
    placing, _, record_id = await claims.place_call(
        database, shop.tenant_id, claimed.entry.id, shop.agent, POLICY, NOW, shop.place)
    assert shop.placed == [("+37060000001", customer)] and record_id is not None
    assert placing.account_id == account
    assert "worklist.call" in await shop.audit() and "do_not_call.added" in await shop.audit()


async def test_the_attempts_cap_refuses_the_call_after_the_last_allowed_in_seven_days(
    database: Database,
) -> None:
    shop = await open_shop(database)
    await shop.customer("dana", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    policy = rules.Policy(max_attempts=2)
    for n in range(2):
        moment = NOW + timedelta(minutes=40 * n)
        record_id = await shop.called(policy, moment)
        await shop.outcome(claims.Outcome(record_id, "callback", moment + timedelta(minutes=30)),
                           shop.agent, moment, policy)  # fmt: skip
    later = NOW + timedelta(hours=2)
    claimed = await claims.claim_next(database, shop.tenant_id, shop.agent, policy, later)
    assert claimed.entry is None and [p.code for p in claimed.passed] == ["attempts"]


async def test_a_callback_outside_the_window_is_refused_and_one_inside_requeues(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, account = await shop.customer("dana", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    record_id = await shop.called(POLICY, NOW)
    late = NOW.replace(hour=19, minute=30)  # 21:30 in Vilnius
    with pytest.raises(Invalid):
        await shop.outcome(claims.Outcome(record_id, "callback", late), shop.agent, NOW)
    back = NOW + timedelta(hours=3)
    call = await shop.outcome(claims.Outcome(record_id, "callback", back), shop.agent, NOW)
    assert call.disposition == "callback"
    entry = (await shop.entries())[account]
    assert (entry.status, entry.due_at) == ("queued", back)
    early = await claims.claim_next(database, shop.tenant_id, shop.other_agent, POLICY, NOW)
    assert early.entry is None
    due = await claims.claim_next(database, shop.tenant_id, shop.other_agent, POLICY, back)
    assert due.entry is not None and due.entry.account_id == account


async def test_a_dispute_outcome_holds_the_account(database: Database) -> None:
    shop = await open_shop(database)
    _, account = await shop.customer("dana", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    record_id = await shop.called(POLICY, NOW)
    with pytest.raises(Forbidden):  # another agent's call
        await shop.outcome(claims.Outcome(record_id, "dispute"), shop.other_agent, NOW)
    await shop.outcome(claims.Outcome(record_id, "dispute", notes="never ordered"), shop.agent,
                       NOW)  # fmt: skip
    entry = (await shop.entries())[account]
    assert (entry.status, entry.outcome) == ("done", "dispute")
    assert "account.collections_hold" in await shop.audit()


async def test_a_customer_flagged_do_not_call_leaves_the_queue(database: Database) -> None:
    shop = await open_shop(database)
    customer, _ = await shop.customer("dana", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.set_customer_do_not_call(session, shop.tenant_id, customer, True,
                                             actor=ADMIN, now=NOW)  # fmt: skip
        assert (await session.get(Customer, customer)).do_not_call_at is not None  # type: ignore[union-attr]
    assert await shop.entries() == {}
    await store.build(database, shop.tenant_id, NOW + timedelta(minutes=1))
    assert await shop.entries() == {}


async def test_two_placements_of_one_claimed_entry_at_once_place_one_call(
    database: Database,
) -> None:
    shop = await open_shop(database)
    await shop.customer("dana", TODAY - timedelta(days=40))
    await store.build(database, shop.tenant_id, NOW)
    claimed = await claims.claim_next(database, shop.tenant_id, shop.agent, POLICY, NOW)
    assert claimed.entry is not None
    outcomes = await asyncio.gather(*(
        claims.place_call(database, shop.tenant_id, claimed.entry.id, shop.agent, POLICY, NOW,
                          shop.place) for _ in range(2)), return_exceptions=True)  # fmt: skip
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(shop.placed) == 1 and len(refused) == 1
    assert isinstance(refused[0], Conflict) and refused[0].code == "not_claimed"


async def test_serve_builds_every_businesss_worklist_each_within_its_own(
    database: Database,
) -> None:
    vilnius, kaunas = await open_shop(database), await open_shop(database, "kaunas")
    _, here = await vilnius.customer("here", TODAY - timedelta(days=40))
    _, there = await kaunas.customer("there", TODAY - timedelta(days=40))
    built = await store.build_all(database, NOW)
    assert built[vilnius.tenant_id].listed == 1 and built[kaunas.tenant_id].listed == 1
    assert set(await vilnius.entries()) == {here} and set(await kaunas.entries()) == {there}
