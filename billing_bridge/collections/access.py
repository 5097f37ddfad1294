"""Who may act on an account's promises and plans, read in the change's own transaction:
a supervisor or admin any account of their business; an agent only the account of the
customer on a call they are answering now (the call log: answered by them, not ended).
In a call, the call is theirs (a supervisor's: any live call of the business), the account
is the caller's, and the call's recording, if one is running, is not paused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections.errors import Conflict, Forbidden, Invalid, NotFound
from billing_bridge.collections.rules import Caps, caps_of, zone_named
from pbx.db.models import Account, Call, Invoice, PaymentPlan, Promise, Recording, Tenant

Held = TypeVar("Held", Promise, PaymentPlan)


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in user acting: their id, their audit label ("agent:dana"), and whether
    they are a supervisor or an admin."""

    user_id: int
    label: str
    supervisor: bool


@dataclass(frozen=True, slots=True)
class InCall:
    """The call an action is taken in: its log row and the recording running on it."""

    record_id: int
    recording_id: int | None


@dataclass(frozen=True, slots=True)
class Business:
    tenant_id: int
    zone: ZoneInfo
    caps: Caps


async def business(session: AsyncSession, tenant_id: int) -> Business:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("business not found")
    return Business(tenant.id, zone_named(tenant.timezone),
                    caps_of(tenant.promise_max_days, tenant.promise_min_share_pct))  # fmt: skip


async def locked_account(session: AsyncSession, account_id: int, *, in_body: bool) -> Account:
    """The account, its row locked (promises and plans of one account are made one at a
    time); another business's looks like a missing one."""
    account = await session.scalar(
        select(Account).where(Account.id == account_id).with_for_update()
    )
    if account is None:
        if in_body:
            raise Invalid("account_id", "no such account")
        raise NotFound("account not found")
    return account


async def held_for_change(
    session: AsyncSession, kind: type[Held], row_id: int, staff: Staff, what: str
) -> Held:
    """A promise or plan about to change, for whoever may act on its account: the account's
    row locked first, then its own, the order a payment locks them in (so a change and a
    payment at once wait instead of deadlocking); another business's is not found."""
    account_id = await session.scalar(select(kind.account_id).where(kind.id == row_id))
    if account_id is None:
        raise NotFound(f"{what} not found")
    account = await locked_account(session, account_id, in_body=False)
    await may_act_on(session, account, staff)
    held = await session.scalar(
        select(kind).where(kind.id == row_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    assert held is not None  # its account's row is held: it cannot be deleted meanwhile
    return held


async def may_act_on(session: AsyncSession, account: Account, staff: Staff) -> None:
    """Off a named call: a supervisor any account; an agent only while answering its owner."""
    if staff.supervisor:
        return
    talking = await session.scalar(
        select(Call.id).where(
            Call.agent_id == staff.user_id, Call.customer_id == account.customer_id,
            Call.answered_at.is_not(None), Call.ended_at.is_(None),
        ).limit(1)
    )  # fmt: skip
    if talking is None:
        raise Forbidden("agents act on the account of the caller they are talking to")


async def in_call(
    session: AsyncSession, call_id: str, account: Account, staff: Staff
) -> InCall:
    """The live call `call_id` (the caller's channel, as in /calls/{call_id}), if the staff
    member may act in it and the account is the caller's; with its running recording,
    locked, which must not be paused at this moment."""
    call = await session.scalar(
        select(Call).where(Call.channel_id == call_id, Call.ended_at.is_(None))
    )
    if call is None:
        raise NotFound("call not found")
    if not staff.supervisor and call.agent_id != staff.user_id:
        raise Forbidden("this is not your call")
    if call.customer_id is None or call.customer_id != account.customer_id:
        raise Invalid("account_id", "no such account of this caller")
    # Locked: a pause asked at the same moment waits for this consent to be written.
    recording = await session.scalar(
        select(Recording).where(Recording.call_id == call.id, Recording.status == "recording")
        .order_by(Recording.id.desc()).limit(1).with_for_update()
    )  # fmt: skip
    if recording is not None and recording.pauses and recording.pauses[-1].get("to") is None:
        raise Conflict("the call's recording is paused: resume it first", code="recording_paused")
    return InCall(call.id, recording.id if recording is not None else None)


async def callers_own(session: AsyncSession, call_record_id: int, account: Account) -> None:
    """The live call (its log row) is the account owner's: the IVR acts only for its caller."""
    customer_id = await session.scalar(
        select(Call.customer_id).where(Call.id == call_record_id, Call.ended_at.is_(None))
    )
    if customer_id is None or customer_id != account.customer_id:
        raise Forbidden("the account is not the caller's on a live call")


async def overdue_of(session: AsyncSession, account: Account, today: date) -> tuple[int, int]:
    """(overdue, owed): what is overdue on the account (its open invoices due before today,
    never more than its balance; with none overdue, the balance), and its balance owed."""
    overdue = await session.scalar(
        select(func.coalesce(func.sum(Invoice.outstanding_minor), 0)).where(
            Invoice.account_id == account.id, Invoice.status == "open",
            Invoice.outstanding_minor > 0, Invoice.due_on < today,
        )
    )  # fmt: skip
    owed = max(account.balance_minor, 0)
    return (min(int(overdue or 0), owed) or owed), owed
