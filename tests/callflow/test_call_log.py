"""The call log's writes on both databases: a deferred column goes out with the call's next
write, or on its own when there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pbx.callflow.call_log import CallLog
from pbx.db.database import Database
from pbx.db.models import BillingEvent, Call, report_queue_intervals
from tests.factories import make_tenant

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def opened(database: Database) -> tuple[CallLog, int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    log = CallLog(database)
    row = await log.open(
        tenant, channel_id="1796186364.7", caller_raw="0502345678", caller_number="+972502345678",
        dialed_number="+97235550100", match="none", customer_id=None, priority=0, arrived_at=T0,
    )  # fmt: skip
    return log, tenant, row


async def written(database: Database, row: int) -> Call:
    async with database.system_session() as session:
        return (await session.execute(select(Call).where(Call.id == row))).scalar_one()


async def test_deferred_columns_go_out_with_the_next_write_as_one_statement(
    database: Database, opened: tuple[CallLog, int, int]
) -> None:
    log, tenant, row = opened
    statements = 0
    update = log.update

    async def counted(*args, **fields) -> None:  # type: ignore[no-untyped-def]
        nonlocal statements
        statements += 1
        await update(*args, **fields)

    log.update = counted  # type: ignore[method-assign]
    async with log.deferred(tenant, row, queued_at=T0 + timedelta(seconds=2)):
        assert (await written(database, row)).queued_at is None  # held, not written yet
        await log.update(tenant, row, offered_at=T0 + timedelta(seconds=3))

    call = await written(database, row)
    assert (call.queued_at, call.offered_at) == (
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=3),
    )
    assert statements == 1


async def test_deferred_columns_are_written_on_leaving_when_nothing_else_wrote(
    database: Database, opened: tuple[CallLog, int, int]
) -> None:
    log, tenant, row = opened
    with pytest.raises(RuntimeError):
        async with log.deferred(tenant, row, queued_at=T0 + timedelta(seconds=2)):
            raise RuntimeError("the agents could not be rung")

    call = await written(database, row)
    assert (call.queued_at, call.offered_at) == (T0 + timedelta(seconds=2), None)


async def test_a_calls_end_is_announced_once_with_the_row_as_closed_and_keeps_the_first_offer(
    database: Database, opened: tuple[CallLog, int, int]
) -> None:
    log, tenant, row = opened
    await log.update(tenant, row, offered_at=T0 + timedelta(seconds=3))
    ended = T0 + timedelta(seconds=40)
    await log.update(tenant, row, outcome="abandoned", wait_seconds=5, ended_at=ended,
                     offered_at=T0 + timedelta(seconds=9))  # fmt: skip
    await log.update(tenant, row, outcome="failed", ended_at=ended + timedelta(seconds=1))

    call = await written(database, row)
    assert (call.outcome, call.ended_at, call.offered_at) == (
        "failed", ended + timedelta(seconds=1), T0 + timedelta(seconds=3),
    )  # fmt: skip
    async with database.system_session() as session:
        events = (await session.execute(
            select(BillingEvent.type, BillingEvent.data).where(BillingEvent.tenant_id == tenant)
        )).all()  # fmt: skip
        sums = (await session.execute(
            select(report_queue_intervals.c.calls)
            .where(report_queue_intervals.c.tenant_id == tenant)
        )).all()  # fmt: skip
    assert [(kind, data["outcome"], data["ended_at"]) for kind, data in events] == [
        ("call.ended", "abandoned", ended.isoformat().replace("+00:00", "Z")),
    ]
    assert sums == [(1,)]  # the end counted once
