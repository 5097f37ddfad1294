"""Preview dialing: an agent claims the next account (no two agents hold the same one; a
claim expires), sees its pop, then places the call; the call's collections outcome finishes
the entry or puts it back for a callback at the customer's time.

Compliance is read at the claim (an entry it refuses now is passed over, and said why) and
again when the call is placed, in the transaction that records the attempt: the entry moves
from claimed to called by compare-and-set first (the first write, so two placements of one
entry cannot both pass), then the rules are read and the attempt written, or all of it
rolls back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict, Forbidden, Invalid, NotFound
from billing_bridge.collections.rules import zone_named
from billing_bridge.events import changes
from billing_bridge.reminders import store as reminders
from billing_bridge.reminders.rules import customer_zone
from billing_bridge.reminders.store import plan_in_good_standing, promise_in_good_standing
from billing_bridge.worklist import rules
from billing_bridge.worklist.store import refused
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    Call,
    Customer,
    CustomerPhone,
    DoNotCallNumber,
    Tenant,
    WorklistAttempt,
    WorklistEntry,
)

LOOK_AHEAD = 20  # entries read per claim; those compliance refuses now are passed over


@dataclass(frozen=True, slots=True)
class Passed:
    """An entry passed over at a claim, and the rule that refused it."""

    entry_id: int
    account_id: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Claimed:
    entry: WorklistEntry | None
    passed: list[Passed]


@dataclass(frozen=True, slots=True)
class Reach:
    """How the customer can be reached now: the number to call (None: none may be) and the
    compliance facts."""

    number: str | None
    facts: rules.Facts


async def reach(
    session: AsyncSession, account_id: int, business_zone: Any, now: datetime
) -> Reach | None:
    """What compliance reads of an account now; None: no such account."""
    row = (await session.execute(
        select(Account.customer_id, Account.collections_hold, Customer.do_not_call_at,
               promise_in_good_standing().label("promise"),
               plan_in_good_standing().label("plan"))
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.id == account_id)
    )).one_or_none()  # fmt: skip
    if row is None:
        return None
    phones = (await session.scalars(
        select(CustomerPhone.e164).where(CustomerPhone.customer_id == row.customer_id)
        .order_by(CustomerPhone.id)
    )).all()  # fmt: skip
    listed = set((await session.scalars(
        select(DoNotCallNumber.e164).where(DoNotCallNumber.e164.in_(phones))
    )).all()) if phones else set()  # fmt: skip
    callable_ = [p for p in phones if p not in listed]
    attempts = await session.scalar(
        select(func.count(WorklistAttempt.id)).where(
            WorklistAttempt.account_id == account_id, WorklistAttempt.failed.is_(False),
            WorklistAttempt.at > now - timedelta(days=rules.ATTEMPT_DAYS))
    )  # fmt: skip
    number = callable_[0] if callable_ else None
    facts = rules.Facts(
        zone=customer_zone(number or (phones[0] if phones else None), business_zone),
        attempts_in_window=int(attempts or 0),
        customer_do_not_call=row.do_not_call_at is not None,
        number_listed=bool(phones) and not callable_, dispute=row.collections_hold is not None,
        promise=bool(row.promise), plan=bool(row.plan),
    )  # fmt: skip
    return Reach(number, facts)


def _refusal(found: Reach, policy: rules.Policy, now: datetime) -> rules.Refusal | None:
    if found.number is None and not found.facts.number_listed:
        return rules.Refusal("no_number", "the customer has no phone number")
    return rules.refusal(found.facts, policy, now)


async def _zone(session: AsyncSession, tenant_id: int) -> Any:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("business not found")
    return zone_named(tenant.timezone)


def _free(now: datetime) -> Any:
    """An entry nobody holds now: queued, or its claim expired; and due."""
    expired = and_(WorklistEntry.status.in_(("claimed", "called")),
                   WorklistEntry.claimed_until < now)  # fmt: skip
    due = or_(WorklistEntry.due_at.is_(None), WorklistEntry.due_at <= now)
    return and_(or_(WorklistEntry.status == "queued", expired), due)


async def claim_next(
    database: Database, tenant_id: int, staff: Staff, policy: rules.Policy, now: datetime
) -> Claimed:
    """The agent's entry: the one they hold already, else the best-scored free entry that
    compliance allows now, claimed by compare-and-set (two agents asking at once get
    different entries)."""
    passed: list[Passed] = []
    async with database.tenant_session(tenant_id) as session, session.begin():
        held = await session.scalar(
            select(WorklistEntry).where(WorklistEntry.claimed_by_id == staff.user_id,
                                        WorklistEntry.status == "claimed",
                                        WorklistEntry.claimed_until >= now)
        )  # fmt: skip
        if held is not None:
            return Claimed(held, passed)
        zone = await _zone(session, tenant_id)
        ids = (await session.scalars(
            select(WorklistEntry.id).where(_free(now))
            .order_by(WorklistEntry.score.desc(), WorklistEntry.id).limit(LOOK_AHEAD)
        )).all()  # fmt: skip
    for entry_id in ids:
        try:
            entry = await _claim(database, tenant_id, entry_id, staff, policy, zone, now)
        except _PassOver as over:
            if over.passed is not None:
                passed.append(over.passed)
            continue
        if entry is not None:
            return Claimed(entry, passed)
    return Claimed(None, passed)


class _PassOver(Exception):
    """An entry claimed and given back in the same transaction (rolled back)."""

    def __init__(self, passed: Passed | None) -> None:
        self.passed = passed


async def _claim(
    database: Database, tenant_id: int, entry_id: int, staff: Staff, policy: rules.Policy,
    zone: Any, now: datetime,
) -> WorklistEntry | None:  # fmt: skip
    """Claim one entry by compare-and-set, then read compliance; a refusal rolls the claim
    back (`_PassOver`). None: another agent took it first."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        taken = await session.execute(
            update(WorklistEntry).where(WorklistEntry.id == entry_id, _free(now))
            .values(status="claimed", claimed_by_id=staff.user_id,
                    claimed_until=now + timedelta(minutes=policy.claim_minutes))
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        entry = await session.get(WorklistEntry, entry_id, populate_existing=True)
        assert entry is not None
        found = await reach(session, entry.account_id, zone, now)
        if found is None:
            raise _PassOver(None)
        refusal = _refusal(found, policy, now)
        if refusal is not None:
            raise _PassOver(Passed(entry_id, entry.account_id, refusal.code, refusal.message))
        record(session, tenant_id=tenant_id, actor=_actor(staff), action="worklist.claimed",
               target=Target("worklist_entry", entry_id),
               details={"account_id": entry.account_id, "score": entry.score}, at=now)  # fmt: skip
        return entry


@dataclass(frozen=True, slots=True)
class Placing:
    attempt_id: int
    entry_id: int
    account_id: int
    customer_id: int
    number: str


async def begin_call(
    database: Database, tenant_id: int, entry_id: int, staff: Staff, policy: rules.Policy,
    now: datetime,
) -> Placing:  # fmt: skip
    """The compliance check at the moment of dialing and the attempt's row, in one
    transaction; a refusal names its rule (`Conflict` with the rule's code)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        moved = await session.execute(
            update(WorklistEntry)
            .where(WorklistEntry.id == entry_id, WorklistEntry.claimed_by_id == staff.user_id,
                   WorklistEntry.status == "claimed", WorklistEntry.claimed_until >= now)
            .values(status="called", claimed_until=now + timedelta(minutes=policy.claim_minutes))
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if not moved.rowcount:  # type: ignore[attr-defined]
            exists_ = await session.scalar(select(WorklistEntry.id).where(
                WorklistEntry.id == entry_id))  # fmt: skip
            if exists_ is None:
                raise NotFound("worklist entry not found")
            raise Conflict("claim this entry first (or it expired, or it was called)",
                           code="not_claimed")  # fmt: skip
        entry = await session.get(WorklistEntry, entry_id, populate_existing=True)
        assert entry is not None
        found = await reach(session, entry.account_id, await _zone(session, tenant_id), now)
        if found is None:
            raise NotFound("account not found")
        refusal = _refusal(found, policy, now)
        if refusal is not None:
            raise refused(refusal)
        assert found.number is not None
        attempt = WorklistAttempt(tenant_id=tenant_id, entry_id=entry_id,
                                  account_id=entry.account_id, agent_id=staff.user_id,
                                  number=found.number, at=now, failed=False)  # fmt: skip
        session.add(attempt)
        await session.flush()
        record(session, tenant_id=tenant_id, actor=_actor(staff), action="worklist.call",
               target=Target("worklist_entry", entry_id),
               details={"account_id": entry.account_id, "attempt_id": attempt.id,
                        "attempts_in_window": found.facts.attempts_in_window + 1},
               at=now)  # fmt: skip
        return Placing(attempt.id, entry_id, entry.account_id, entry.customer_id, found.number)


async def finish_call(
    database: Database, tenant_id: int, placing: Placing, call_id: str | None
) -> int | None:
    """Link the attempt to the call log's row of the call placed (`call_id`), or, when it
    could not be placed (None), mark it failed (not counted) and hand the entry back to its
    agent's claim. The call log's row id, if any."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        attempt = await session.get(WorklistAttempt, placing.attempt_id, with_for_update=True)
        if attempt is None:
            return None
        if call_id is None:
            attempt.failed = True
            await session.execute(
                update(WorklistEntry)
                .where(WorklistEntry.id == placing.entry_id, WorklistEntry.status == "called")
                .values(status="claimed").execution_options(synchronize_session=False)
            )  # fmt: skip
            return None
        record_id = await session.scalar(select(Call.id).where(Call.channel_id == call_id))
        attempt.call_record_id = record_id
        return record_id


Place = Callable[[str, int], Awaitable[str]]


async def place_call(
    database: Database, tenant_id: int, entry_id: int, staff: Staff, policy: rules.Policy,
    now: datetime, place: Place,
) -> tuple[Placing, str, int | None]:  # fmt: skip
    """Check, record the attempt, then place the call through `place(number, customer_id)`
    (click-to-call); the call's id and its call log row. A call that cannot be placed marks
    its attempt failed and raises what `place` raised."""
    placing = await begin_call(database, tenant_id, entry_id, staff, policy, now)
    try:
        call_id = await place(placing.number, placing.customer_id)
    except BaseException:
        await finish_call(database, tenant_id, placing, None)
        raise
    record_id = await finish_call(database, tenant_id, placing, call_id)
    return placing, call_id, record_id


async def release(database: Database, tenant_id: int, entry_id: int, staff: Staff) -> None:
    """The agent gives a claimed entry back untouched (not after the call was placed)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        done = await session.execute(
            update(WorklistEntry)
            .where(WorklistEntry.id == entry_id, WorklistEntry.claimed_by_id == staff.user_id,
                   WorklistEntry.status == "claimed")
            .values(status="queued", claimed_by_id=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("no entry of yours to release")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A collections call's disposition."""

    record_id: int
    outcome: str
    callback_at: datetime | None = None
    notes: str | None = None


async def record_outcome(
    session: AsyncSession, tenant_id: int, change: Outcome, staff: Staff, policy: rules.Policy,
    now: datetime,
) -> tuple[Call, WorklistEntry]:  # fmt: skip
    """The outcome on the call log's row and its attempt, audited; the entry done, or (a
    callback at a time) queued again for that time, which must be within the window on the
    customer's clock. A dispute holds the account's collections (reminders stop too)."""
    if change.outcome not in rules.OUTCOMES:
        raise Invalid("outcome", "one of " + ", ".join(rules.OUTCOMES))
    if (change.outcome == "callback") != (change.callback_at is not None):
        raise Invalid("callback_at", "given with the outcome callback, and only with it")
    attempt = await session.scalar(
        select(WorklistAttempt).where(WorklistAttempt.call_record_id == change.record_id)
        .with_for_update()
    )  # fmt: skip
    if attempt is None:
        raise NotFound("no collections call with this id")
    call = await session.scalar(
        select(Call).where(Call.id == change.record_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    assert call is not None  # the attempt names it
    if call.agent_id != staff.user_id and attempt.agent_id != staff.user_id \
            and not staff.supervisor:  # fmt: skip
        raise Forbidden("this is not your call")
    entry = await session.get(WorklistEntry, attempt.entry_id, with_for_update=True)
    assert entry is not None
    if change.callback_at is not None:
        found = await reach(session, entry.account_id, await _zone(session, tenant_id), now)
        zone = found.facts.zone if found is not None else await _zone(session, tenant_id)
        rules.callback_allowed(change.callback_at, zone, policy, now)
        entry.status, entry.due_at = "queued", change.callback_at
        entry.claimed_by_id = entry.claimed_until = None
    else:
        entry.status, entry.due_at = "done", None
    entry.outcome, entry.decided_at = change.outcome, now
    attempt.outcome = change.outcome
    call.disposition = change.outcome
    if change.notes is not None:
        call.notes = change.notes
    await session.flush()
    record(session, tenant_id=tenant_id, actor=_actor(staff), action="call.collections_outcome",
           target=Target("call", call.id),
           details={"outcome": change.outcome, "entry_id": entry.id,
                    "account_id": entry.account_id,
                    "callback_at": change.callback_at.isoformat() if change.callback_at
                    else None}, at=now)  # fmt: skip
    if change.outcome == "dispute":
        await reminders.set_hold(session, tenant_id, entry.account_id,
                                 "dispute raised in a collections call", actor=_actor(staff),
                                 now=now)  # fmt: skip
    await changes.call_updated(session, call)
    return call, entry


def _actor(staff: Staff) -> By:
    return By(staff.label, staff.user_id)
