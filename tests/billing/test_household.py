"""A household's number on the pop: the customers who share it, bounded, and only the
business's own; and the panel's past calls with what happened in them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from billing_bridge.household import household
from billing_bridge.screen_pop import NOTES_EXCERPT, customer_panel
from pbx.db.database import Database
from pbx.db.models import Account, Call, Payment, Promise
from pbx.events.codec import encode_payload
from pbx.events.publisher import DeskPublisher
from tests.events.test_publisher import RecordingHub
from tests.factories import make_customer, make_tenant

HOME = "+97235551234"
TODAY = date(2026, 3, 10)


async def test_a_shared_number_lists_each_customer_with_what_they_owe(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    await make_customer(database, tenant, "C-2", "Dana Levi", [HOME], [
        {"currency": "ILS", "balance_minor": 12_000, "status": "overdue"},
        {"currency": "ILS", "balance_minor": 500, "status": "active"}])  # fmt: skip
    await make_customer(database, tenant, "C-1", "Avi Levi", [HOME, "+972501111111"], [
        {"currency": "ILS", "balance_minor": 0, "status": "active"},
        {"currency": "EUR", "balance_minor": 700, "status": "active"}])  # fmt: skip
    await make_customer(database, tenant, "C-3", "Noa Levi", [HOME])  # no account yet
    await make_customer(database, tenant, "C-4", "Someone Else", ["+972502222222"])

    found = await household(database, tenant, HOME)

    assert [(m.name, m.ref, m.balance_minor, m.currency) for m in found.members] == [
        ("Avi Levi", "C-1", 700, None),  # two currencies: no one sum to show
        ("Dana Levi", "C-2", 12_500, "ILS"),
        ("Noa Levi", "C-3", 0, None),
    ]  # fmt: skip
    assert found.more == 0


async def test_a_large_household_is_listed_up_to_the_bound_with_a_count_of_the_rest(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    for n in range(7):
        await make_customer(database, tenant, f"C-{n}", f"Member {n}", [HOME])

    found = await household(database, tenant, HOME, shown=4)

    assert [m.ref for m in found.members] == ["C-0", "C-1", "C-2", "C-3"]
    assert found.more == 3
    assert found.to_json()["more"] == 3 and len(found.to_json()["members"]) == 4


async def test_another_businesss_customers_with_the_same_number_are_not_listed(
    database: Database,
) -> None:
    ofek = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97237630199"])
    await make_customer(database, ofek, "C-1", "Avi Levi", [HOME])
    await make_customer(database, other, "X-1", "Not Theirs", [HOME])
    await make_customer(database, other, "X-2", "Not Theirs Either", [HOME])

    found = await household(database, ofek, HOME)

    assert [m.ref for m in found.members] == ["C-1"] and found.more == 0
    assert (await household(database, ofek, "+972509999999")).members == ()


async def test_past_calls_show_their_notes_excerpt_and_the_promises_and_payments_taken_in_them(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    customer = await make_customer(database, tenant, "C-1", "Avi Levi", [HOME], [
        {"currency": "ILS", "balance_minor": 9_000, "status": "overdue"}])  # fmt: skip
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    long_notes = "Card 4242 4242 4242 4242 read out; " + "promised to pay by Friday. " * 20
    async with database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        earlier = Call(channel_id="c1", caller_raw="035551234", match="ambiguous",
                       customer_id=customer, arrived_at=at, outcome="answered",
                       disposition="promise", notes=long_notes)  # fmt: skip
        later = Call(channel_id="c2", caller_raw="035551234", match="ambiguous",
                     customer_id=customer, arrived_at=at + timedelta(days=1),
                     outcome="answered", disposition="paid")  # fmt: skip
        session.add_all([earlier, later])
        await session.flush()
        session.add(Promise(account_id=account, amount_minor=5_000, currency="ILS",
                            due_on=date(2026, 3, 6), method="pay_link", status="kept",
                            overdue_minor=9_000, call_id=earlier.id))  # fmt: skip
        session.add(Payment(account_id=account, amount_minor=4_000, currency="ILS",
                            method="card", provider="sandbox", idempotency_key="in-call",
                            status="succeeded", call_id=later.id))  # fmt: skip
        session.add(Payment(account_id=account, amount_minor=1, currency="ILS",
                            method="card", provider="sandbox", idempotency_key="no-call",
                            status="succeeded"))  # fmt: skip
        earlier_id, later_id = earlier.id, later.id

    panel = await customer_panel(database, tenant, customer, TODAY)

    assert panel is not None
    newest, oldest = panel["recent_calls"]
    assert (newest["id"], newest["disposition"], newest["notes"]) == (later_id, "paid", None)
    assert [(p["amount_minor"], p["status"]) for p in newest["payments"]] == [(4_000, "succeeded")]
    assert newest["promises"] == []
    assert oldest["id"] == earlier_id and oldest["payments"] == []
    assert [(p["amount_minor"], p["due_on"], p["status"]) for p in oldest["promises"]] == [
        (5_000, "2026-03-06", "kept")]  # fmt: skip
    notes = oldest["notes"]
    assert len(notes) == NOTES_EXCERPT and notes.endswith("…")
    assert notes.startswith("Card **** **** **** 4242 read out;") and "4242 4242" not in notes


def as_json(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else encode_payload(data)


def call_of(tenant: int, customer_id: int | None, match: str) -> dict[str, object]:
    """A notice's call as the call flow's `call_view` gives it."""
    return {"tenant_id": tenant, "queue": None, "agents": [11], "call": {
        "call_id": "c-1", "record_id": 1, "direction": "inbound", "caller_number": HOME,
        "did": "+97237630100", "match": match, "customer_id": customer_id, "priority": 0,
        "verified": None, "queue": None, "waited_seconds": 3, "agent_id": 11, "outcome": None,
    }}  # fmt: skip


async def test_the_pop_of_a_shared_number_lists_the_household_and_a_pick_pops_the_panel(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    avi = await make_customer(database, tenant, "C-1", "Avi Levi", [HOME], [
        {"currency": "ILS", "balance_minor": 9_000, "status": "overdue"}])  # fmt: skip
    await make_customer(database, tenant, "C-2", "Dana Levi", [HOME])
    hub = RecordingHub()
    publisher = DeskPublisher(hub, database, lambda: datetime(2026, 3, 10, 9, tzinfo=UTC))  # type: ignore[arg-type]
    await publisher.start()

    publisher.notify("call.offered", call_of(tenant, None, "ambiguous"))
    publisher.notify("account.updated", call_of(tenant, avi, "ambiguous"))
    await publisher.stop()

    offered, updated = hub.published
    pop = as_json(offered.data)
    assert pop["panel"] is None
    members = pop["household"]["members"]
    assert [(m["name"], m["balance_minor"], m["currency"]) for m in members] == [
        ("Avi Levi", 9_000, "ILS"), ("Dana Levi", 0, None)]  # fmt: skip
    assert updated.type == "account.updated" and updated.audience.agents == (11,)
    panel = as_json(updated.data)
    assert panel["customer_id"] == avi and panel["panel"]["customer"]["name"] == "Avi Levi"
