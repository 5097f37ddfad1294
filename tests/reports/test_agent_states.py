"""The agents' state history: every state an agent enters is kept as a span, split at the
quarter hours into the agents report's figures, which equal what the raw spans say (on a
day the clocks go back, on both databases), a rebuild gives the same, and a restart closes
what the last owner left open."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.acd.agents import RING_NO_ANSWER, Agent, AgentState
from pbx.acd.engine import Engine
from pbx.db.database import Database
from pbx.db.models import AgentStateSpan, report_agent_state_intervals
from pbx.reports.agent_states import AgentStateHistory, StateChange, split
from pbx.reports.agents import AgentQuery, agent_report
from pbx.reports.csv_export import agents_csv
from pbx.reports.periods import Interval, interval_of, period
from pbx.reports.store import rebuild
from tests.factories import make_tenant
from tests.reports.calls import staff, utc

VILNIUS = ZoneInfo("Europe/Vilnius")
DST_DAY = date(2026, 10, 25)  # 04:00 EEST becomes 03:00 EET


# --- pure rules ------------------------------------------------------------------------------


def test_a_span_is_split_at_every_quarter_hour_it_crosses_and_its_parts_add_up() -> None:
    started = datetime(2026, 3, 2, 9, 14, 30, 700000, tzinfo=UTC)
    parts = split(started, started + timedelta(minutes=31, seconds=2))
    first = int(datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp()) // 900
    assert parts == [(first, 30), (first + 1, 900), (first + 2, 900), (first + 3, 32)]
    assert sum(seconds for _, seconds in parts) == 31 * 60 + 2
    assert split(started, started) == []


def test_a_span_across_the_night_the_clocks_go_back_counts_in_both_three_oclock_hours() -> None:
    # 02:30 EEST to 03:30 EET (local) is two and a half hours of the business's clock.
    started, ended = utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 1, 30)
    hours: dict[str, int] = defaultdict(int)
    for bucket, seconds in split(started, ended):
        hours[interval_of(bucket, Interval.HOUR, VILNIUS).astimezone(VILNIUS).isoformat()] += (
            seconds
        )
    assert dict(hours) == {
        "2026-10-25T02:00:00+03:00": 1800,
        "2026-10-25T03:00:00+03:00": 3600,
        "2026-10-25T03:00:00+02:00": 1800,
    }


def test_the_engine_journals_every_state_an_agent_enters_even_a_wrap_up_of_no_time() -> None:
    engine = Engine(random.Random(1))
    agent = Agent("7", "PJSIP/7")
    engine.add_agent(agent)
    now = utc(2026, 3, 2, 9)
    agent.log_in(now)
    agent.offer("c1", now)
    agent.ring_no_answer(now)
    agent.pause("lunch", now)
    agent.unpause(now)
    agent.offer("c2", now)
    agent.answer("c2", now)
    agent.end_call(now, wrapup_s=5)
    agent.end_wrap_up(now)
    moves = [(m.state, m.pause_reason) for m in engine.state_moves()]
    assert moves == [
        (AgentState.AVAILABLE, None), (AgentState.RINGING, None),
        (AgentState.PAUSED, RING_NO_ANSWER), (AgentState.PAUSED, "lunch"),
        (AgentState.AVAILABLE, None), (AgentState.RINGING, None), (AgentState.ON_CALL, None),
        (AgentState.WRAP_UP, None), (AgentState.AVAILABLE, None),
    ]  # fmt: skip
    assert engine.state_moves() == []


def test_an_agent_an_admin_removes_is_journalled_logged_out() -> None:
    engine = Engine(random.Random(1))
    engine.add_agent(Agent("7", "PJSIP/7"))
    now = utc(2026, 3, 2, 9)
    engine.agent_available("7", now)
    later = now + timedelta(minutes=5)
    engine.remove_agent("7", later)
    assert [(m.state, m.at) for m in engine.state_moves()] == [
        (AgentState.AVAILABLE, now), (AgentState.LOGGED_OUT, later)]  # fmt: skip


# --- over the database -------------------------------------------------------------------------

_WEIGHTS = {"available": 3, "ringing": 2, "on_call": 4, "wrap_up": 2, "paused": 2,
            "logged_out": 1}  # fmt: skip


async def _shifts(database: Database, tenant: int, agents: list[int], start: datetime,
                  hours: int, seed: int = 5) -> None:  # fmt: skip
    """Each agent wanders through every state (pauses of several reasons, ring-no-answer,
    holds within calls) for `hours`, written through the history as the call flow does."""
    history, rng = AgentStateHistory(database, every=0), random.Random(seed)
    for agent in agents:
        now, end = start + timedelta(seconds=rng.randrange(600)), start + timedelta(hours=hours)
        state = "logged_out"
        while now < end:
            state = rng.choices(list(_WEIGHTS), list(_WEIGHTS.values()))[0]
            reason = ""
            if state == "paused":
                reason = rng.choice(["lunch", "training", RING_NO_ANSWER])
            history.record(StateChange(tenant, agent, state, now, reason=reason))
            length = timedelta(seconds=rng.choice([0, 1, 7, 60, 299, 900, 1300, 3700]))
            if state == "on_call" and rng.random() < 0.5:
                held = now + length / 3
                history.record(StateChange(tenant, agent, "on_hold", held, call_id=None))
                if rng.random() < 0.6:
                    history.record(StateChange(tenant, agent, "off_hold", held + length / 3))
            now += length
        history.record(StateChange(tenant, agent, "logged_out", now))
        await history.flush()


async def _spans(database: Database, tenant: int) -> list[AgentStateSpan]:
    async with database.tenant_session(tenant) as session:
        return list(await session.scalars(select(AgentStateSpan).order_by(AgentStateSpan.id)))


def _hours_of(day: date) -> list[datetime]:
    span = period(VILNIUS, day, day, Interval.HOUR)
    hours, moment = [], span.start
    while moment < span.end:
        hours.append(moment)
        moment += timedelta(hours=1)
    return hours


def _expected(spans: list[AgentStateSpan], day: date) -> dict[tuple[str, int], dict[str, object]]:
    """By (local hour as ISO text, agent): each state figure from the raw spans, each
    span's whole seconds clipped to the hour."""
    out: dict[tuple[str, int], dict[str, object]] = {}
    for hour in _hours_of(day):
        lo, hi = int(hour.timestamp()), int(hour.timestamp()) + 3600
        for agent in {s.agent_id for s in spans}:
            seconds: dict[tuple[str, str], int] = defaultdict(int)
            entered = 0
            for s in spans:
                if s.agent_id != agent or s.ended_at is None:
                    continue
                a, b = int(s.started_at.timestamp()), int(s.ended_at.timestamp())
                overlap = max(0, min(b, hi) - max(a, lo))
                seconds[(s.state, s.reason)] += overlap
                if s.state == "paused" and s.reason == RING_NO_ANSWER and lo <= a < hi:
                    entered += 1
            login = sum(v for (state, _), v in seconds.items() if state != "on_hold")
            if not login and not entered and not seconds.get(("on_hold", "")):
                continue
            paused = {r: v for (state, r), v in seconds.items() if state == "paused" and v}
            pause = sum(paused.values())
            work = seconds[("on_call", "")] + seconds[("wrap_up", "")]
            out[(hour.astimezone(VILNIUS).isoformat(), agent)] = {
                "login_seconds": login, "pause_seconds": pause, "pause_by_reason": paused,
                "on_call_seconds": seconds[("on_call", "")],
                "hold_seconds": seconds[("on_hold", "")],
                "wrap_up_seconds": seconds[("wrap_up", "")],
                "occupancy_pct": round(100 * work / (login - pause), 1) if login > pause else None,
                "ring_no_answer": entered,
            }  # fmt: skip
    return out


def _got(report_rows: list) -> dict[tuple[str, int], dict[str, object]]:  # type: ignore[type-arg]
    return {
        (r.interval_start.isoformat(), r.agent_id): {
            "login_seconds": r.login_seconds, "pause_seconds": r.pause_seconds,
            "pause_by_reason": {k: v for k, v in r.pause_by_reason.items() if v},
            "on_call_seconds": r.on_call_seconds, "hold_seconds": r.hold_seconds,
            "wrap_up_seconds": r.wrap_up_seconds, "occupancy_pct": r.occupancy_pct,
            "ring_no_answer": r.ring_no_answer,
        }
        for r in report_rows
        if r.login_seconds or r.ring_no_answer or r.hold_seconds
    }  # fmt: skip


async def test_every_state_figure_by_hour_equals_the_raw_spans_on_a_dst_day_and_after_a_rebuild(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    business = await staff(database, tenant)
    await _shifts(database, tenant, business.agents, utc(2026, 10, 24, 19), hours=32)
    spans = await _spans(database, tenant)
    assert all(s.ended_at is not None for s in spans)  # every agent logged out at the end
    assert {s.state for s in spans} == {"available", "ringing", "on_call", "wrap_up",
                                        "paused", "on_hold"}  # fmt: skip
    query = AgentQuery(period(VILNIUS, DST_DAY, DST_DAY, Interval.HOUR), Interval.HOUR)

    report = await agent_report(database, tenant, query)
    expected = _expected(spans, DST_DAY)
    assert _got(report.rows) == expected
    assert len({key[0] for key in expected}) == 25  # the repeated 03:00 twice

    async with database.engine.begin() as connection:
        await connection.execute(report_agent_state_intervals.delete())
    await rebuild(database, tenant, None)
    assert _got((await agent_report(database, tenant, query)).rows) == expected
    await rebuild(database, tenant, query.period)
    again = await agent_report(database, tenant, query)
    assert _got(again.rows) == expected
    for total in again.totals:
        rows = [r for r in again.rows if r.agent_id == total.agent_id]
        assert total.login_seconds == sum(r.login_seconds for r in rows)
        assert total.ring_no_answer == sum(r.ring_no_answer for r in rows)

    narrowed = await agent_report(database, tenant, AgentQuery(
        query.period, Interval.DAY, queues=(business.queues[0],)))  # fmt: skip
    assert all(r.login_seconds is None for r in narrowed.rows + narrowed.totals)


async def test_a_restart_closes_what_the_last_owner_left_open_and_keeps_what_it_restored(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    kept, moved, gone = (await staff(database, tenant)).agents
    t0 = utc(2026, 3, 2, 9)
    history = AgentStateHistory(database, every=0)
    history.record(StateChange(tenant, kept, "paused", t0, reason="lunch"))
    history.record(StateChange(tenant, moved, "on_call", t0 + timedelta(minutes=10)))
    history.record(StateChange(tenant, moved, "on_hold", t0 + timedelta(minutes=11)))
    history.record(StateChange(tenant, gone, "available", t0))
    await history.flush()

    # The new owner restored `kept` paused for lunch and `moved` in wrap-up since before
    # its last span began (the snapshot was older than the history); `gone` it does not
    # hold logged in.
    restart = t0 + timedelta(minutes=30)
    after = AgentStateHistory(database, every=0)
    after.record(StateChange(tenant, kept, "paused", t0 - timedelta(minutes=5), reason="lunch"))
    after.record(StateChange(tenant, moved, "wrap_up", t0 + timedelta(minutes=5)))
    after.restarted([(tenant, gone)], restart)
    await after.flush()

    spans = {(s.agent_id, s.state): s for s in await _spans(database, tenant)}
    assert spans[(kept, "paused")].ended_at is None  # the same pause carries on
    assert spans[(kept, "paused")].started_at == t0
    on_call, hold = spans[(moved, "on_call")], spans[(moved, "on_hold")]
    assert on_call.ended_at == t0 + timedelta(minutes=10)
    assert hold.ended_at == hold.started_at  # held after the time the restore speaks of
    assert spans[(moved, "wrap_up")].started_at == t0 + timedelta(minutes=10)
    assert spans[(gone, "available")].ended_at == restart
    assert len(spans) == 5


async def test_the_agents_csv_carries_the_state_figures_after_a_bom(database: Database) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    agent = (await staff(database, tenant, agents=1)).agents[0]
    history, t0 = AgentStateHistory(database, every=0), utc(2026, 3, 2, 8)
    for minutes, state, reason in ((0, "available", ""), (10, "paused", "lunch"),
                                   (40, "paused", "training"), (50, "logged_out", "")):
        history.record(StateChange(tenant, agent, state, t0 + timedelta(minutes=minutes),
                                   reason=reason))  # fmt: skip
    await history.flush()
    day = date(2026, 3, 2)
    text = agents_csv(await agent_report(database, tenant, AgentQuery(
        period(VILNIUS, day, day, Interval.DAY), Interval.DAY)))  # fmt: skip
    header, row, total = text.split("\r\n")[:3]
    assert header.startswith("\ufeffinterval_start,agent_id,agent_name,handled,")
    assert header.endswith(",login_seconds,pause_seconds,pause_by_reason,on_call_seconds,"
                           "hold_seconds,wrap_up_seconds,average_handle_seconds,"
                           "occupancy_pct,ring_no_answer")  # fmt: skip
    assert row.endswith(",3000,2400,lunch=1800; training=600,0,0,0,,0.0,0")
    assert total.startswith(",") and total.endswith(row[row.index(",3000,"):])


async def test_a_change_the_database_refuses_is_dropped_and_holds_back_nothing_after_it(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    other = await make_tenant(database, "kaunas", "LT", "EUR", [], timezone="Europe/Vilnius")
    agent = (await staff(database, other, agents=1)).agents[0]
    history, t0 = AgentStateHistory(database, every=0), utc(2026, 3, 2, 8)
    history.record(StateChange(tenant, 10**12, "available", t0))  # no such agent
    history.record(StateChange(other, agent, "available", t0))
    await history.flush()
    history.record(StateChange(other, agent, "paused", t0 + timedelta(minutes=1),
                               reason="lunch"))  # fmt: skip
    await history.flush()

    assert [s.state for s in await _spans(database, tenant)] == []
    assert [(s.state, s.ended_at) for s in await _spans(database, other)] == [
        ("available", t0 + timedelta(minutes=1)), ("paused", None)]  # fmt: skip
    await history.flush()  # nothing left pending to try again
    assert len(await _spans(database, other)) == 2


async def test_a_rebuild_of_more_rows_than_one_statement_binds_keeps_every_one(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "busy", "LT", "EUR", [], timezone="Europe/Vilnius")
    business = await staff(database, tenant, queues=1, agents=1)
    start, quarter = utc(2027, 3, 1, 0), timedelta(minutes=15)
    quarters = 5_000  # 35,000 values: more than a statement may bind
    async with database.tenant_session(tenant) as session, session.begin():
        session.add_all([AgentStateSpan(
            agent_id=business.agents[0], state="available", started_at=start + q * quarter,
            ended_at=start + q * quarter + timedelta(seconds=60 + q % 7),
        ) for q in range(quarters)])  # fmt: skip
    await rebuild(database, tenant, None)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(
            report_agent_state_intervals.c.seconds, report_agent_state_intervals.c.entered
        ).where(report_agent_state_intervals.c.tenant_id == tenant))).all()  # fmt: skip
    assert len(rows) == quarters
    assert sum(r.seconds for r in rows) == sum(60 + q % 7 for q in range(quarters))
    assert sum(r.entered for r in rows) == quarters


async def test_a_stop_lets_a_write_in_flight_finish_instead_of_cutting_it() -> None:
    """Cancelling `run` mid-write (the call flow stopping) must not cut the transaction: on
    SQLite a cut one keeps the database's write lock, and the state snapshot written next
    waited on it until it gave up."""
    history = AgentStateHistory(None, every=0)  # type: ignore[arg-type]
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_flush() -> None:
        started.set()
        await release.wait()
        finished.set()

    history.flush = slow_flush  # type: ignore[method-assign]
    history.record(StateChange(1, 1, "available", datetime.now(UTC)))
    running = asyncio.ensure_future(history.run())
    await started.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert not finished.is_set()  # the write goes on after its task was cancelled
    release.set()
    await history.settle()
    assert finished.is_set()
