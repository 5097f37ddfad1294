"""Outgoing billing events: written with the change that makes them, numbered per business
in commit order (the counter's lock is the last the transaction takes), a pending delivery
for each subscription that takes the type, nothing for a change that rolled back."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from billing_bridge.events import emit, envelope
from billing_bridge.events.feed import events_after
from pbx.db.database import Database
from pbx.db.models import Account, WebhookSubscription
from tests.events_out.support import business, deliveries_of, events_of

PAYMENT = {"object": "payment", "id": 1, "amount_minor": 500, "currency": "ILS"}


async def _change_and_emit(database: Database, tenant_id: int, type: str = "payment.succeeded",
                           account_id: int | None = None) -> str:  # fmt: skip
    async with database.tenant_session(tenant_id) as session, session.begin():
        return emit(session, tenant_id, type, PAYMENT, account_id=account_id)


async def test_events_are_numbered_in_the_order_their_transactions_commit(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")

    ids = [await _change_and_emit(database, shop.tenant_id) for _ in range(3)]

    rows = await events_of(database, shop.tenant_id)
    assert [row.public_id for row in rows] == ids and [row.seq for row in rows] == [1, 2, 3]
    first = envelope(rows[0])
    assert re.fullmatch(r"evt_[0-9a-f]{32}", first["id"])
    assert first["object"] == "event" and first["type"] == "payment.succeeded"
    assert first["api_version"] == "2026-12-01" and first["sequence"] == 1
    assert first["created"].endswith("Z") and first["data"] == {"object": PAYMENT}


async def test_a_change_that_rolls_back_leaves_no_event_and_takes_no_number(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")

    with pytest.raises(RuntimeError):
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            emit(session, shop.tenant_id, "payment.succeeded", PAYMENT)
            raise RuntimeError("the change failed")
    await _change_and_emit(database, shop.tenant_id)

    assert [row.seq for row in await events_of(database, shop.tenant_id)] == [1]


async def test_each_enabled_subscription_taking_the_type_gets_a_pending_delivery(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        for url, types, enabled in (("https://a.example/", ["payment.succeeded"], True),
                                    ("https://b.example/", ["*"], True),
                                    ("https://c.example/", ["credit.granted"], True),
                                    ("https://d.example/", ["*"], False)):  # fmt: skip
            session.add(WebhookSubscription(url=url, secret="s" * 32, event_types=types,
                                            enabled=enabled))  # fmt: skip
    await _change_and_emit(database, shop.tenant_id, account_id=shop.account_id)

    async with database.tenant_session(shop.tenant_id) as session:
        rows = await session.execute(select(WebhookSubscription.id, WebhookSubscription.url))
        urls = {subscription_id: url for subscription_id, url in rows}
    deliveries = await deliveries_of(database, shop.tenant_id)
    event = (await events_of(database, shop.tenant_id))[0]
    assert sorted(urls[d.subscription_id] for d in deliveries) == [
        "https://a.example/", "https://b.example/"]  # fmt: skip
    assert all(d.status == "pending" and d.event_id == event.id for d in deliveries)
    assert all(d.account_id == shop.account_id for d in deliveries)


async def test_each_business_numbers_its_own_events(database: Database) -> None:
    ofek = await business(database, "ofek", "+97237630100")
    other = await business(database, "other", "+97237630199")

    await _change_and_emit(database, ofek.tenant_id)
    await _change_and_emit(database, other.tenant_id)
    await _change_and_emit(database, ofek.tenant_id)

    assert [row.seq for row in await events_of(database, ofek.tenant_id)] == [1, 2]
    assert [row.seq for row in await events_of(database, other.tenant_id)] == [1]


async def test_an_unknown_event_type_is_refused(database: Database) -> None:
    shop = await business(database, "ofek", "+97237630100")

    with pytest.raises(ValueError, match="unknown billing event type"):
        await _change_and_emit(database, shop.tenant_id, type="payment.maybe")


async def test_the_transaction_that_commits_first_has_the_smaller_sequence(
    postgres_database: Database,
) -> None:
    database = postgres_database
    shop = await business(database, "ofek", "+97237630100")
    staged = [asyncio.Event() for _ in range(3)]
    go = [asyncio.Event() for _ in range(3)]
    committed: list[str] = []

    async def change(number: int) -> None:
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            await session.execute(select(Account.id).where(Account.id == shop.account_id))
            event_id = emit(session, shop.tenant_id, "payment.succeeded", PAYMENT)
            staged[number].set()
            await go[number].wait()
        committed.append(event_id)

    tasks = [asyncio.create_task(change(number)) for number in range(3)]
    for number in range(3):
        await staged[number].wait()  # all three emitted, in this order, none committed
    for number in reversed(range(3)):  # they commit in the opposite order
        go[number].set()
        await tasks[number]

    rows = await events_of(database, shop.tenant_id)
    assert [row.public_id for row in rows] == committed
    assert [row.seq for row in rows] == [1, 2, 3]


async def test_a_reader_after_a_cursor_never_misses_an_event_committed_while_it_reads(
    postgres_database: Database,
) -> None:
    database = postgres_database
    shop = await business(database, "ofek", "+97237630100")
    writers = 12
    done = asyncio.Event()

    async def writer() -> None:
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            await session.execute(select(Account.id).where(Account.id == shop.account_id))
            emit(session, shop.tenant_id, "payment.succeeded", PAYMENT)

    async def reader() -> list[int]:
        seen: list[int] = []
        after = 0
        while len(seen) < writers:
            finished = done.is_set()  # as it was before this page was read
            async with database.tenant_session(shop.tenant_id) as session:
                page = await events_after(session, after, 5)
            seen += [row.seq for row in page.events]
            after = page.events[-1].seq if page.events else after
            if finished and not page.has_more and len(seen) < writers:
                break  # every writer had committed before a page that came to the end
        return seen

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer() for _ in range(writers)))
    done.set()
    seen = await asyncio.wait_for(reading, 30)

    assert seen == list(range(1, writers + 1))


async def test_two_first_events_of_a_new_business_at_once_are_both_numbered(
    postgres_database: Database,
) -> None:
    shop = await business(postgres_database, "ofek", "+97237630100")

    await asyncio.gather(*(_change_and_emit(postgres_database, shop.tenant_id) for _ in range(4)))

    assert [row.seq for row in await events_of(postgres_database, shop.tenant_id)] == [1, 2, 3, 4]
