"""The money report: what a business collected and credited over a period, per agent, queue
and channel, read from its ledger (`account_entries` with their payments and credits), and
the mandates set up.

Collected is every `payment` entry (a payment that succeeded; refunds, chargebacks and
reversals are the reconciliation report's), in the period by the entry's time. Its channel:
`recurring` (a collection run's charge, key `collect:...`), `pay_link`, `card_in_call`
(taken in a call once an agent had answered it: that agent and the call's queue),
`ivr_self_service` (taken in a call before any agent answered), `other`. Credited is every
`credit` entry (granted within limits or approved), per the agent who granted it and the
queue of the call it was granted in. Amounts are integer minor units, per currency, never
added across currencies. Mandates belong to no agent or queue in the data: they are listed
only when the report is not narrowed to agents or queues.

Promises and payment plans (`billing_bridge/collections/`), per the agent who took them
and the queue of the call they were taken in, `channel` their method: `promise_made` (by
its creation, the amount promised), `promise_kept` and `promise_broken` (by the moment it
was decided, the amount promised), `plan_created` (by its creation, the plan's total),
`instalment_collected` and `instalment_failed` (an instalment kept or broken, by the moment
it was decided, the instalment's amount; the plan's agent and call).

Collected per call handled (`per_call`), per agent and the call's queue: `calls`, the calls
handled (answered by an agent and ended, inbound or outbound, arrived in the period by
`calls.arrived_at`: a call still going counts once it ends, as in the agents report);
`amount_minor`, the `payment` entries whose payment names one of those calls and was taken
once the agent had answered it (at any time, so a call that arrived before midnight and paid
after counts in its own day), per currency; `per_call_minor`, `amount_minor // calls`:
integer minor units rounded down. Handled calls that collected nothing give one row with no
currency and 0. The total over every agent and queue (after the filters) has no agent and
no queue (a handled call always has its agent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select

from pbx.db.database import Database
from pbx.db.models import (
    AccountEntry,
    Call,
    Credit,
    Mandate,
    Payment,
    PaymentPlan,
    PlanInstalment,
    Promise,
)
from pbx.reports.periods import Period

CHANNELS = ("card_in_call", "ivr_self_service", "pay_link", "recurring", "other")
COLLECTIONS_KINDS = ("promise_made", "promise_kept", "promise_broken", "plan_created",
                     "instalment_collected", "instalment_failed")  # fmt: skip


@dataclass(frozen=True)
class MoneyQuery:
    period: Period
    agents: tuple[int, ...] = ()
    queues: tuple[int, ...] = ()


@dataclass(frozen=True)
class MoneyFigure:
    kind: str  # collected | credited | COLLECTIONS_KINDS
    channel: str | None  # a collection's (CHANNELS); a promise's or plan's method; None: credits
    agent_id: int | None
    queue_id: int | None
    currency: str
    count: int
    amount_minor: int


@dataclass(frozen=True, order=True)
class MandatesSetUp:
    scheme: str
    status: str
    count: int


@dataclass(frozen=True)
class CollectedPerCall:
    agent_id: int | None  # None with queue_id None: the total
    queue_id: int | None
    currency: str | None  # None: the handled calls collected nothing
    calls: int
    amount_minor: int
    per_call_minor: int  # amount_minor // calls, rounded down


@dataclass(frozen=True)
class MoneyReport:
    query: MoneyQuery
    figures: list[MoneyFigure]
    mandates: list[MandatesSetUp]
    per_call: list[CollectedPerCall]


_WITH_AGENT = (Call.answered_at.is_not(None)) & (Payment.created_at >= Call.answered_at)
_CHANNEL = case(
    (Payment.idempotency_key.like("collect:%"), "recurring"),
    (Payment.method == "link", "pay_link"),
    ((Payment.call_id.is_not(None)) & _WITH_AGENT, "card_in_call"),
    (Payment.call_id.is_not(None), "ivr_self_service"),
    else_="other",
)
_COLLECTING_AGENT = case(((Payment.call_id.is_not(None)) & _WITH_AGENT, Call.agent_id))


async def money_report(database: Database, tenant_id: int, query: MoneyQuery) -> MoneyReport:
    start, end = query.period.start, query.period.end
    in_period = (AccountEntry.created_at >= start) & (AccountEntry.created_at < end)
    collected = (
        select(literal("collected").label("kind"), _CHANNEL.label("channel"),
               _COLLECTING_AGENT.label("agent_id"), Call.queue_id.label("queue_id"),
               AccountEntry.currency, func.count(AccountEntry.id).label("count"),
               func.sum(-AccountEntry.amount_minor).label("amount_minor"))
        .select_from(AccountEntry)
        .join(Payment, Payment.id == AccountEntry.payment_id)
        .outerjoin(Call, Call.id == Payment.call_id)
        .where(AccountEntry.kind == "payment", in_period)
        .group_by(_CHANNEL, _COLLECTING_AGENT, Call.queue_id, AccountEntry.currency)
    )  # fmt: skip
    credited = (
        select(literal("credited").label("kind"), literal(None).label("channel"),
               Credit.granted_by_id.label("agent_id"), Call.queue_id.label("queue_id"),
               AccountEntry.currency, func.count(AccountEntry.id).label("count"),
               func.sum(-AccountEntry.amount_minor).label("amount_minor"))
        .select_from(AccountEntry)
        .join(Credit, Credit.id == AccountEntry.credit_id)
        .outerjoin(Call, Call.id == Credit.call_id)
        .where(AccountEntry.kind == "credit", in_period)
        .group_by(Credit.granted_by_id, Call.queue_id, AccountEntry.currency)
    )  # fmt: skip
    statements = [(collected, _COLLECTING_AGENT), (credited, Credit.granted_by_id),
                  *_collections(start, end)]  # fmt: skip
    if query.agents:
        statements = [(s.where(agent.in_(query.agents)), agent) for s, agent in statements]
    if query.queues:
        statements = [(s.where(Call.queue_id.in_(query.queues)), a) for s, a in statements]
    async with database.tenant_session(tenant_id) as session:
        figures = [
            MoneyFigure(row.kind, row.channel, row.agent_id, row.queue_id, row.currency,
                        int(row.count), int(row.amount_minor))
            for statement, _ in statements
            for row in await session.execute(statement)
        ]  # fmt: skip
        mandates: list[MandatesSetUp] = []
        if not query.agents and not query.queues:
            rows = await session.execute(
                select(Mandate.scheme, Mandate.status, func.count(Mandate.id))
                .where(Mandate.created_at >= start, Mandate.created_at < end)
                .group_by(Mandate.scheme, Mandate.status)
            )  # fmt: skip
            mandates = sorted(MandatesSetUp(s, st, int(n)) for s, st, n in rows)
        handled, collected = await _handled_calls(session, query)
    figures.sort(key=lambda f: (f.kind, f.channel or "", f.agent_id or 0, f.queue_id or 0,
                                f.currency))  # fmt: skip
    return MoneyReport(query, figures, mandates, per_call_of(handled, collected))


HandledKey = tuple[int | None, int | None]  # agent, queue


def per_call_of(
    handled: Mapping[HandledKey, int], collected: Mapping[HandledKey, Mapping[str, int]]
) -> list[CollectedPerCall]:
    """The per-call rows (pure): each agent and queue's, then the total."""
    total_calls = sum(handled.values())
    total: dict[str, int] = {}
    for amounts in collected.values():
        for currency, minor in amounts.items():
            total[currency] = total.get(currency, 0) + minor
    ordered = sorted(handled, key=lambda k: (k[0] or 0, k[1] is not None, k[1] or 0))
    rows = [row for key in ordered for row in _rows(key, handled[key], collected.get(key, {}))]
    return rows + _rows((None, None), total_calls, total) if total_calls else rows


def _rows(key: HandledKey, calls: int, amounts: Mapping[str, int]) -> list[CollectedPerCall]:
    if not amounts:
        return [CollectedPerCall(*key, None, calls, 0, 0)]
    return [CollectedPerCall(*key, currency, calls, minor, minor // calls)
            for currency, minor in sorted(amounts.items())]  # fmt: skip


async def _handled_calls(
    session: Any, query: MoneyQuery
) -> tuple[dict[HandledKey, int], dict[HandledKey, dict[str, int]]]:
    """Calls handled in the period per agent and queue, and what was collected in them."""
    handled_in_period = [
        Call.answered_at.is_not(None), Call.agent_id.is_not(None), Call.ended_at.is_not(None),
        Call.arrived_at >= query.period.start, Call.arrived_at < query.period.end,
        *([Call.agent_id.in_(query.agents)] if query.agents else []),
        *([Call.queue_id.in_(query.queues)] if query.queues else []),
    ]  # fmt: skip
    rows = await session.execute(
        select(Call.agent_id, Call.queue_id, func.count(Call.id))
        .where(*handled_in_period).group_by(Call.agent_id, Call.queue_id)
    )  # fmt: skip
    handled = {(agent, queue): int(n) for agent, queue, n in rows}
    rows = await session.execute(
        select(Call.agent_id, Call.queue_id, AccountEntry.currency,
               func.sum(-AccountEntry.amount_minor))
        .select_from(AccountEntry)
        .join(Payment, Payment.id == AccountEntry.payment_id)
        .join(Call, Call.id == Payment.call_id)
        .where(AccountEntry.kind == "payment", Payment.created_at >= Call.answered_at,
               *handled_in_period)
        .group_by(Call.agent_id, Call.queue_id, AccountEntry.currency)
    )  # fmt: skip
    collected: dict[HandledKey, dict[str, int]] = {}
    for agent, queue, currency, minor in rows:
        collected.setdefault((agent, queue), {})[currency] = int(minor)
    return handled, collected


def _collections(start: datetime, end: datetime) -> list[tuple[Any, ColumnElement[Any]]]:
    """Promises and plans made, and decided, in the period: each statement with the column
    naming its agent (for the agents filter)."""
    promise, plan = (Promise.created_by_id, Promise.call_id), (
        PaymentPlan.consent_by_id, PaymentPlan.consent_call_id)  # fmt: skip
    return [
        _tally("promise_made", Promise, promise, Promise.amount_minor, Promise.created_at,
               start, end),
        *(_tally(f"promise_{status}", Promise, promise, Promise.amount_minor,
                 Promise.decided_at, start, end, Promise.status == status)
          for status in ("kept", "broken")),
        _tally("plan_created", PaymentPlan, plan, PaymentPlan.total_minor,
               PaymentPlan.created_at, start, end),
        *(_tally(kind, PaymentPlan, plan, PlanInstalment.amount_minor,
                 PlanInstalment.decided_at, start, end, PlanInstalment.status == status)
          for kind, status in (("instalment_collected", "kept"),
                               ("instalment_failed", "broken"))),
    ]  # fmt: skip


def _tally(kind: str, source: type[Promise] | type[PaymentPlan],
           by: tuple[ColumnElement[Any], ColumnElement[Any]], amount: ColumnElement[int],
           when: ColumnElement[Any], start: datetime, end: datetime,
           *conditions: ColumnElement[bool]) -> tuple[Any, ColumnElement[Any]]:  # fmt: skip
    """Count and sum `amount` of `source`'s rows with `when` in the period, per method,
    agent (`by[0]`), the queue of its call (`by[1]`) and currency."""
    agent, call_id = by
    statement = select(
        literal(kind).label("kind"), source.method.label("channel"), agent.label("agent_id"),
        Call.queue_id.label("queue_id"), source.currency.label("currency"),
        func.count().label("count"), func.sum(amount).label("amount_minor"),
    ).select_from(source)  # fmt: skip
    if kind.startswith("instalment_"):
        statement = statement.join(PlanInstalment, PlanInstalment.plan_id == PaymentPlan.id)
    statement = (
        statement.outerjoin(Call, Call.id == call_id)
        .where(when >= start, when < end, *conditions)
        .group_by(source.method, agent, Call.queue_id, source.currency)
    )
    return statement, agent
