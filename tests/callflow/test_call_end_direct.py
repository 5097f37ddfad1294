"""The call's end on PostgreSQL goes straight to asyncpg, in one transaction
(`CallLog._close_direct`): it writes exactly the rows the session's path writes (as on
SQLite), tells the delivery listeners after its commit, and leaves nothing when it fails
part way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billing_bridge.events import outbox
from pbx.callflow import call_log
from pbx.callflow.call_log import CallLog
from pbx.db import direct
from pbx.db.database import Database
from pbx.db.models import (
    BillingEvent,
    BillingEventCounter,
    Call,
    Queue,
    User,
    WebhookDelivery,
    WebhookSubscription,
    report_agent_intervals,
    report_queue_intervals,
)
from pbx.reports import store as report_store
from tests.factories import make_customer, make_tenant

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DID = "+37052000001"
SUBSCRIPTIONS = (  # url, types, enabled: only the first takes call.ended
    ("https://ends.example/", ["call.ended"], True),
    ("https://payments.example/", ["payment.succeeded"], True),
    ("https://off.example/", ["*"], False),
)


class _SessionPath(Database):
    """The same database with its calls' ends taken through the ORM session (as without
    the direct pool); everything else as the application runs it."""

    @property
    def direct(self) -> bool:
        return False


@pytest.fixture
async def session_path(migrated_postgresql_url: str) -> AsyncIterator[Database]:
    database = _SessionPath(migrated_postgresql_url, pool_size=2)
    try:
        yield database
    finally:
        await database.close()


class _Listener:
    def __init__(self) -> None:
        self.told = 0

    def wake(self) -> None:
        self.told += 1


async def _business(database: Database, slug: str) -> dict[tuple[str, Any], str]:
    """A business with a customer, a queue, an agent and its webhook subscriptions; its ids
    by what they are, to compare two businesses' rows."""
    tenant = await make_tenant(database, slug, "LT", "EUR", [])  # DIDs are unique
    customer = await make_customer(database, tenant, "C-1", "Ona", ["+37061234567"])
    async with database.tenant_session(tenant) as session, session.begin():
        queue, agent = Queue(name="billing"), User(username="ona", display_name="Ona",
                                                   role="agent")  # fmt: skip
        session.add_all([queue, agent])
        session.add_all(WebhookSubscription(url=url, secret="s" * 32, event_types=types,
                                            enabled=enabled)
                        for url, types, enabled in SUBSCRIPTIONS)  # fmt: skip
        await session.flush()
        subscriptions = (await session.execute(
            select(WebhookSubscription.id, WebhookSubscription.url)
        )).all()  # fmt: skip
    return {
        ("tenant_id", tenant): "tenant", ("customer_id", customer): "customer",
        ("queue_id", queue.id): "queue", ("agent_id", agent.id): "agent",
        **{("subscription_id", id): url for id, url in subscriptions},
    }  # fmt: skip


def _tenant(ids: dict[tuple[str, Any], str]) -> int:
    return next(value for (name, value), label in ids.items() if label == "tenant")


def _id(ids: dict[tuple[str, Any], str], label: str) -> int:
    return next(value for (_name, value), named in ids.items() if named == label)


async def _arrived(
    log: CallLog, ids: dict[tuple[str, Any], str], name: str, n: int
) -> tuple[int, datetime, int]:
    """Call `n`'s row opened as the call flow opens it, its channel and its label `name-n`:
    the business, the arrival and the row."""
    tenant, arrived = _tenant(ids), T0 + timedelta(minutes=n)
    row = await log.open(
        tenant, channel_id=f"{name}-{n}", caller_raw="+37061234567",
        caller_number="+37061234567", dialed_number=DID, match="unique",
        customer_id=_id(ids, "customer"), priority=0, arrived_at=arrived,
    )  # fmt: skip
    ids[("id", row)] = ids[("call_id", row)] = f"{name}-{n}"
    return tenant, arrived, row


async def _answered_and_ended(log: CallLog, ids: dict[tuple[str, Any], str], n: int) -> int:
    """Call `n`, as the call flow logs one: arrived, queued, answered by the agent, ended."""
    tenant, arrived, row = await _arrived(log, ids, "call", n)
    await log.update(tenant, row, queued_at=arrived + timedelta(seconds=2),
                     queue_id=_id(ids, "queue"))  # fmt: skip
    await log.update(tenant, row, offered_at=arrived + timedelta(seconds=4),
                     answered_at=arrived + timedelta(seconds=9),
                     agent_id=_id(ids, "agent"))  # fmt: skip
    await log.update(tenant, row, outcome="answered", wait_seconds=7, talk_seconds=60 + n,
                     ended_at=arrived + timedelta(seconds=69 + n))  # fmt: skip
    return row


def _neutral(values: Any, ids: dict[tuple[str, Any], str], key: str = "") -> Any:
    """`values` with each business's own ids named by what they are."""
    if isinstance(values, dict):
        return {name: _neutral(value, ids, name) for name, value in values.items()}
    if isinstance(values, list):
        return [_neutral(value, ids, key) for value in values]
    return ids.get((key, values), values)


async def _rows(database: Database, ids: dict[tuple[str, Any], str]) -> dict[str, Any]:
    """Everything a call's end writes for the business, without ids or moments that differ
    from one run to the next (event ids, insertion times)."""
    tenant = _tenant(ids)

    async def read(table: Any, *order: Any) -> list[dict[str, Any]]:
        async with database.system_session() as session:
            result = await session.execute(
                select(table).where(table.c.tenant_id == tenant).order_by(*order)
            )
            return [dict(row) for row in result.mappings()]

    events = await read(BillingEvent.__table__, BillingEvent.seq)
    by_event = {event["id"]: event["seq"] for event in events}
    deliveries = await read(WebhookDelivery.__table__, WebhookDelivery.id)
    for delivery in deliveries:
        delivery["event_id"] = by_event[delivery["event_id"]]
    return _neutral({
        "calls": await read(Call.__table__, Call.id),
        "events": [_without(event, "id", "public_id", "created_at") for event in events],
        "deliveries": [_without(delivery, "id", "next_attempt_at", "created_at")
                       for delivery in deliveries],
        "counter": await read(BillingEventCounter.__table__),
        "queue_intervals": await read(report_queue_intervals),
        "agent_intervals": await read(report_agent_intervals),
    }, ids)  # fmt: skip


def _without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in names}


async def test_the_direct_end_writes_the_rows_the_session_path_writes(
    postgres_database: Database, session_path: Database
) -> None:
    through_session = await _business(session_path, "sesija")
    direct = await _business(postgres_database, "tiesiai")
    listener = _Listener()
    outbox.when_deliveries_committed(postgres_database.engine, listener.wake)
    for n in (1, 2):  # the counter made on the first event, advanced on the second
        await _answered_and_ended(CallLog(session_path), through_session, n)
        await _answered_and_ended(CallLog(postgres_database), direct, n)

    written = await _rows(postgres_database, direct)
    assert written == await _rows(postgres_database, through_session)
    assert [event["seq"] for event in written["events"]] == [1, 2]
    assert [(d["subscription_id"], d["event_id"]) for d in written["deliveries"]] == [
        ("https://ends.example/", 1), ("https://ends.example/", 2),
    ]  # fmt: skip
    assert written["events"][0]["data"]["customer_ref"] == "C-1"
    assert [call["outcome"] for call in written["calls"]] == ["answered", "answered"]
    assert [(i["queue_id"], i["answered"]) for i in written["queue_intervals"]] == [("queue", 2)]
    assert [(i["agent_id"], i["handled"]) for i in written["agent_intervals"]] == [("agent", 2)]
    assert written["counter"] == [{"tenant_id": "tenant", "last_seq": 2}]
    assert listener.told == 2


async def _overflowed_and_abandoned(log: CallLog, ids: dict[tuple[str, Any], str], n: int) -> int:
    """Call `n`, sent on from another queue and abandoned there: no agent's sums."""
    tenant, arrived, row = await _arrived(log, ids, "gone", n)
    ids[("overflow_from_queue_id", _id(ids, "queue"))] = "queue"
    await log.update(tenant, row, queued_at=arrived, queue_id=_id(ids, "queue"),
                     overflow_from_queue_id=_id(ids, "queue"))  # fmt: skip
    await log.update(tenant, row, outcome="abandoned", wait_seconds=30 + n,
                     ended_at=arrived + timedelta(seconds=30 + n))  # fmt: skip
    return row


async def test_the_direct_end_of_an_unanswered_call_writes_what_the_session_path_writes(
    postgres_database: Database, session_path: Database
) -> None:
    through_session = await _business(session_path, "sesija")
    direct = await _business(postgres_database, "tiesiai")
    await _overflowed_and_abandoned(CallLog(session_path), through_session, 1)
    await _overflowed_and_abandoned(CallLog(postgres_database), direct, 1)

    written = await _rows(postgres_database, direct)
    assert written == await _rows(postgres_database, through_session)
    assert [(i["abandoned"], i["overflowed"]) for i in written["queue_intervals"]] == [(1, 1)]
    assert written["agent_intervals"] == []
    assert [event["data"]["outcome"] for event in written["events"]] == ["abandoned"]


async def test_a_call_ended_already_is_updated_without_a_second_event(
    postgres_database: Database,
) -> None:
    ids = await _business(postgres_database, "tiesiai")
    log = CallLog(postgres_database)
    row = await _answered_and_ended(log, ids, 1)
    await log.update(_tenant(ids), row, outcome="failed", ended_at=T0 + timedelta(hours=1))

    written = await _rows(postgres_database, ids)
    assert [(c["outcome"], c["ended_at"]) for c in written["calls"]] == [
        ("failed", T0 + timedelta(hours=1)),
    ]
    assert [event["data"]["outcome"] for event in written["events"]] == ["answered"]
    assert [interval["calls"] for interval in written["queue_intervals"]] == [1]


async def test_an_end_that_fails_part_way_leaves_the_call_open_and_no_event(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _business(postgres_database, "tiesiai")
    listener = _Listener()
    outbox.when_deliveries_committed(postgres_database.engine, listener.wake)
    taking = outbox._taking

    def to_no_subscription(*args: Any) -> list[int]:
        # The last statement of the transaction fails: a subscription that does not exist.
        return [-1 for _ in taking(*args)]

    monkeypatch.setattr(outbox, "_taking", to_no_subscription)
    with pytest.raises(IntegrityError):
        await _answered_and_ended(CallLog(postgres_database), ids, 1)

    written = await _rows(postgres_database, ids)
    assert [call["ended_at"] for call in written["calls"]] == [None]
    assert written["events"] == written["deliveries"] == written["queue_intervals"] == []
    assert written["counter"] == []
    assert listener.told == 0

    monkeypatch.setattr(outbox, "_taking", taking)  # the next end goes through
    row = next(value for (name, value) in ids if name == "id")
    await CallLog(postgres_database).update(_tenant(ids), row, outcome="answered",
                                            ended_at=T0 + timedelta(minutes=5))  # fmt: skip
    written = await _rows(postgres_database, ids)
    assert [event["seq"] for event in written["events"]] == [1]
    assert len(written["deliveries"]) == 1
    assert listener.told == 1


async def test_an_end_with_no_subscription_writes_its_event_and_no_delivery(
    postgres_database: Database,
) -> None:
    tenant = await make_tenant(postgres_database, "be-gavejo", "LT", "EUR", [])
    customer = await make_customer(postgres_database, tenant, "C-9", "Jonas", ["+37061234568"])
    async with postgres_database.tenant_session(tenant) as session, session.begin():
        queue, agent = Queue(name="billing"), User(username="jonas", display_name="Jonas",
                                                   role="agent")  # fmt: skip
        session.add_all([queue, agent])
        session.add(WebhookSubscription(url="https://off.example/", secret="s" * 32,
                                        event_types=["*"], enabled=False))  # fmt: skip
    ids = {("tenant_id", tenant): "tenant", ("customer_id", customer): "customer",
           ("queue_id", queue.id): "queue", ("agent_id", agent.id): "agent"}  # fmt: skip
    listener = _Listener()
    outbox.when_deliveries_committed(postgres_database.engine, listener.wake)

    await _answered_and_ended(CallLog(postgres_database), ids, 1)

    written = await _rows(postgres_database, ids)
    assert [(e["seq"], e["type"]) for e in written["events"]] == [(1, "call.ended")]
    assert written["events"][0]["data"]["agent"] == "jonas"
    assert written["deliveries"] == []
    assert listener.told == 0


async def test_the_end_is_two_statements_in_one_transaction(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed and read back with its names; summed into its quarter hour and announced: one
    round trip each, between the transaction's BEGIN and COMMIT."""
    ids = await _business(postgres_database, "tiesiai")
    log = CallLog(postgres_database)
    sent: list[str] = []
    for method in ("fetch", "execute"):
        original = getattr(direct.Pooled, method)

        async def recorded(self: Any, query: str, *args: Any, _original: Any = original,
                           **kwargs: Any) -> Any:  # fmt: skip
            sent.append(query.split(None, 1)[0].upper())
            return await _original(self, query, *args, **kwargs)

        monkeypatch.setattr(direct.Pooled, method, recorded)
    tenant, arrived, row = await _arrived(log, ids, "call", 1)
    await log.update(tenant, row, answered_at=arrived, agent_id=_id(ids, "agent"),
                     queue_id=_id(ids, "queue"))  # fmt: skip
    sent.clear()

    await log.update(tenant, row, outcome="answered", talk_seconds=5,
                     ended_at=arrived + timedelta(seconds=5))  # fmt: skip

    assert sent == ["BEGIN", "WITH", "WITH", "COMMIT"]
    written = await _rows(postgres_database, ids)
    assert [len(written[name]) for name in ("events", "deliveries", "agent_intervals")] == [
        1, 1, 1,
    ]  # fmt: skip


async def test_every_statement_of_the_end_is_short_enough_to_stay_prepared(
    postgres_database: Database,
) -> None:
    """asyncpg prepares a statement longer than its pool's limit again on every execution
    (a round trip and a plan): the report's upsert, the longest, must fit."""
    one_call = [
        report_store._statement(target, "one_call", "postgresql")
        for target in (report_store._QUEUES, report_store._OVERFLOW_SOURCES, report_store._AGENTS)
    ]
    answered = report_store.sums_for(inbound=True, handled=True)
    prepared = [
        direct.prepare(scoped, postgres_database.engine.dialect)
        for scoped in (report_store._both("postgresql"), *one_call,
                       CallLog(postgres_database)._closing_read(frozenset({"ended_at"})),
                       outbox._direct_write(answered, (Call,)))
    ]
    assert all(prepared)  # each goes straight to PostgreSQL
    assert max(len(each.sql) for each in prepared if each) <= direct._LARGEST_STATEMENT


async def test_warming_prepares_the_end_on_every_transaction_connection_and_writes_nothing(
    postgres_database: Database,
) -> None:
    ids = await _business(postgres_database, "tiesiai")
    log = CallLog(postgres_database)

    await log.warm()

    ends = [log._closing_read(columns) for columns in (call_log._ANSWERED_END,
                                                      call_log._ABANDONED_END)]  # fmt: skip
    wanted = {direct.prepare(scoped, postgres_database.engine.dialect).sql  # type: ignore[union-attr]
              for scoped in ends}  # fmt: skip
    pool = await postgres_database._direct_transactions.pool()  # type: ignore[union-attr]
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for raw in held:
            rows = await raw.fetch("SELECT statement FROM pg_prepared_statements")
            prepared = {row["statement"] for row in rows}
            assert wanted <= prepared
            assert sum("INSERT INTO billing_events" in sql for sql in prepared) == 2
    finally:
        for raw in held:
            pool.release(raw)
    written = await _rows(postgres_database, ids)
    assert written["events"] == written["counter"] == written["calls"] == []
