"""What an agent sees about a caller the moment the call is offered: the customer, their
accounts and balances, overdue invoices, mandates, last payments, recent calls (each with its
disposition, an excerpt of its notes, and the promises and payments taken in it), and their
promises to pay and payment plans (open ones, and how the last ones ended).

Reads one tenant's rows through a tenant reader (no transaction), in one statement. Money
stays integer minor units beside its currency; times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    String,
    Text,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
)

from billing_bridge.balances import OWN_KINDS
from billing_bridge.reminders.pop import reminders_on_pop
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AccountEntry,
    BillingEvent,
    Call,
    Customer,
    Invoice,
    Mandate,
    OutboxMessage,
    Payment,
    PaymentPlan,
    PlanInstalment,
    Promise,
    Recording,
    Reminder,
)
from pbx.db.scoped import Scoped, ScopedUnion
from pbx.free_text import cap, mask_card_numbers

RECENT = 5
# A past call's notes on the panel: their start, screened for card numbers. More is read than
# shown, so a card number that starts within the excerpt is read whole and masked before the
# cut (a card number is at most 37 characters with its separators).
NOTES_EXCERPT = 160
_NOTES_READ = NOTES_EXCERPT + 80
TAKEN_IN_CALL = 5 * (RECENT + 1)  # the promises and payments of the recent calls, at most

# Built once, run for every offered call (see pbx.db.scoped): one statement, one round trip,
# of eight parts (the customer, accounts, what of theirs is pending in billing, overdue
# invoices, mandates, payments, recent calls and their recordings), each scoped to the tenant
# and narrowed by the customer. Every part gives the same columns: `part`, `k` (its order
# within the part) and the neutral columns below, each part filling those it has and leaving
# the others NULL.
_CUSTOMER = bindparam("customer_id")
_COLUMNS = {
    "id": Customer.id.type, "ref_id": Account.id.type, "ref": String(), "label": String(),
    "status": String(), "currency": String(), "text": Text(), "amount": BigInteger(),
    "flag": Boolean(), "day": Date(), "at": Payment.created_at.type, "figure": BigInteger(),
}  # fmt: skip


def _part(name: str, order: Any, filled: dict[str, Any]) -> list[Any]:
    """The part's columns in the shared order: its values, typed NULLs for the rest (a
    value is not cast: SQLite would make a date string a number)."""

    def column(label: str, kind: Any) -> Any:
        value = filled.get(label)
        return (null().cast(kind) if value is None else type_coerce(value, kind)).label(label)

    return [
        literal(name, String()).label("part"),
        func.row_number().over(order_by=order).label("k"),
        *(column(label, kind) for label, kind in _COLUMNS.items()),
    ]


_WHO = Scoped(
    select(*_part("customer", Customer.id, {
        "id": Customer.id, "ref": Customer.customer_ref, "label": Customer.name,
        "text": Customer.email, "at": Customer.reminders_opted_out_at,
    })).where(Customer.id == _CUSTOMER),
    Customer,
)  # fmt: skip
_ACCOUNTS = Scoped(
    select(*_part("account", Account.id, {
        "id": Account.id, "ref": Account.account_ref, "currency": Account.currency,
        "amount": Account.balance_minor, "status": Account.status, "flag": Account.vip,
        "figure": Account.reported_balance_minor, "at": Account.reported_at,
        "text": Account.collections_hold,
    })).where(Account.customer_id == _CUSTOMER),
    Account,
)  # fmt: skip
# Each kind a value of its own in the statement: an expanding IN list is rendered anew at every
# run, which kept the whole panel off the direct path to PostgreSQL (`pbx/db/direct.py`).
_OWN_KIND = AccountEntry.kind.in_([literal(kind, String()) for kind in OWN_KINDS])
_PENDING = Scoped(  # per account, what billing has not acknowledged (billing_bridge.balances)
    select(*_part("pending", AccountEntry.account_id, {
        "ref_id": AccountEntry.account_id,
        # (PostgreSQL's SUM of BIGINT is NUMERIC, which would make the union's column so)
        "amount": cast(func.sum(AccountEntry.amount_minor), BigInteger()),
    }))
    .join(BillingEvent, BillingEvent.entry_id == AccountEntry.id)
    .join(Account, AccountEntry.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER, _OWN_KIND, BillingEvent.acknowledged_at.is_(None))
    .group_by(AccountEntry.account_id),
    AccountEntry, BillingEvent, Account,
)  # fmt: skip
_OVERDUE = Scoped(
    select(*_part("overdue", (Invoice.due_on, Invoice.id), {
        "id": Invoice.id, "ref": Invoice.invoice_ref, "ref_id": Invoice.account_id,
        "currency": Invoice.currency, "amount": Invoice.outstanding_minor, "day": Invoice.due_on,
    }))
    .join(Account, Invoice.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER, Invoice.status == "open",
           Invoice.outstanding_minor > 0, Invoice.due_on < bindparam("today")),
    Invoice, Account,
)  # fmt: skip
_MANDATES = Scoped(
    select(*_part("mandate", Mandate.id, {
        "id": Mandate.id, "ref_id": Mandate.account_id, "label": Mandate.scheme,
        "status": Mandate.status, "text": Mandate.provider,
    })).where(Mandate.customer_id == _CUSTOMER),
    Mandate,
)  # fmt: skip
_PAYMENTS = Scoped(
    select(*_part("payment", (Payment.created_at.desc(), Payment.id.desc()), {
        "id": Payment.id, "ref_id": Payment.account_id, "amount": Payment.amount_minor,
        "currency": Payment.currency, "label": Payment.method, "status": Payment.status,
        "at": Payment.created_at,
    }))
    .join(Account, Payment.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER)
    .order_by(Payment.created_at.desc(), Payment.id.desc())
    .limit(RECENT),
    Payment, Account,
)  # fmt: skip
_LAST_CALLS = (Call.arrived_at.desc(), Call.id.desc())
_CALLS = Scoped(  # one more than the panel shows: the call being offered may be among them
    select(*_part("call", _LAST_CALLS, {
        "id": Call.id, "at": Call.arrived_at, "label": Call.outcome,
        "status": Call.disposition, "text": func.substr(Call.notes, 1, _NOTES_READ),
    }))
    .where(Call.customer_id == _CUSTOMER)
    .order_by(*_LAST_CALLS)
    .limit(RECENT + 1),
    Call,
)  # fmt: skip
_RECENT_CALL_IDS = (
    select(Call.id).where(Call.customer_id == _CUSTOMER).order_by(*_LAST_CALLS).limit(RECENT + 1)
)
_RECORDINGS = Scoped(  # each of those calls' newest stored recording, for the desk to play
    select(*_part("recording", Recording.call_id, {
        "id": func.max(Recording.id), "ref_id": Recording.call_id,
    }))
    .join(Call, Recording.call_id == Call.id)  # (scopes the calls the subquery names)
    .where(Recording.call_id.in_(_RECENT_CALL_IDS), Recording.status == "stored")
    .group_by(Recording.call_id),
    Recording, Call,
)  # fmt: skip


def _taken_in_calls(
    part: str, taken: type[Payment] | type[Promise], filled: dict[str, Any]
) -> Scoped:
    """What was taken in those calls, reached through the customer's accounts (the indexed
    way to a customer's payments and promises; `call_id` alone has no index)."""
    return Scoped(
        select(*_part(part, taken.id, {"id": taken.id, "ref_id": taken.call_id,
                                       "amount": taken.amount_minor,
                                       "currency": taken.currency, **filled}))
        .join(Account, taken.account_id == Account.id)
        .join(Call, taken.call_id == Call.id)
        .where(Account.customer_id == _CUSTOMER, taken.call_id.in_(_RECENT_CALL_IDS))
        .order_by(taken.id)
        .limit(TAKEN_IN_CALL),
        taken, Account, Call,
    )  # fmt: skip


_CALL_PAYMENTS = _taken_in_calls(
    "call_payment", Payment, {"label": Payment.method, "status": Payment.status}
)
_CALL_PROMISES = _taken_in_calls(
    "call_promise", Promise, {"day": Promise.due_on, "status": Promise.status}
)
_PROMISES = Scoped(  # the newest: an open one and how the last ones ended
    select(*_part("promise", Promise.id.desc(), {
        "id": Promise.id, "ref_id": Promise.account_id, "amount": Promise.amount_minor,
        "currency": Promise.currency, "day": Promise.due_on, "label": Promise.method,
        "status": Promise.status, "figure": Promise.paid_minor, "at": Promise.decided_at,
    }))
    .join(Account, Promise.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER)
    .order_by(Promise.id.desc())
    .limit(RECENT),
    Promise, Account,
)  # fmt: skip
_PLANS = Scoped(
    select(*_part("plan", PaymentPlan.id.desc(), {
        "id": PaymentPlan.id, "ref_id": PaymentPlan.account_id,
        "amount": PaymentPlan.total_minor, "figure": PaymentPlan.paid_minor,
        "currency": PaymentPlan.currency, "status": PaymentPlan.status,
        "label": PaymentPlan.frequency, "text": PaymentPlan.method,
        "at": PaymentPlan.created_at,
    }))
    .join(Account, PaymentPlan.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER)
    .order_by(PaymentPlan.id.desc())
    .limit(RECENT),
    PaymentPlan, Account,
)  # fmt: skip
_INSTALMENTS = Scoped(  # of the active plans, in date order
    select(*_part("instalment", (PlanInstalment.plan_id, PlanInstalment.number), {
        "id": PlanInstalment.id, "ref_id": PlanInstalment.plan_id,
        "day": PlanInstalment.due_on, "amount": PlanInstalment.amount_minor,
        "figure": PlanInstalment.paid_minor, "status": PlanInstalment.status,
    }))
    .join(PaymentPlan, PlanInstalment.plan_id == PaymentPlan.id)
    .join(Account, PaymentPlan.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER, PaymentPlan.status == "active"),
    PlanInstalment, PaymentPlan, Account,
)  # fmt: skip
_DECIDED_REMINDERS = (  # the newest reminders sent, listed or stopped, of the caller's accounts
    select(Reminder.id).join(Account, Reminder.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER, Reminder.status != "planned")
    .order_by(Reminder.id.desc()).limit(RECENT)
)  # fmt: skip
_REMINDERS = Scoped(
    select(*_part("reminder", Reminder.id.desc(), {
        "id": Reminder.id, "ref_id": Reminder.account_id, "label": Reminder.channel,
        "figure": Reminder.step_day, "status": Reminder.status, "ref": Reminder.stop_reason,
        "at": Reminder.decided_at,
    }))
    .join(Account, Reminder.account_id == Account.id)  # (scopes the subquery's accounts)
    .where(Reminder.id.in_(_DECIDED_REMINDERS)),
    Reminder, Account,
)  # fmt: skip
_REMINDER_MESSAGES = Scoped(  # how the outbox delivered those reminders' messages
    select(*_part("reminder_message", Reminder.id, {
        "id": Reminder.id, "status": OutboxMessage.status, "at": OutboxMessage.sent_at,
    }))
    .join(OutboxMessage, OutboxMessage.id == Reminder.message_id)
    .join(Account, Reminder.account_id == Account.id)
    .where(Reminder.id.in_(_DECIDED_REMINDERS)),
    Reminder, OutboxMessage, Account,
)  # fmt: skip
_PANEL = ScopedUnion(
    _WHO, _ACCOUNTS, _PENDING, _OVERDUE, _MANDATES, _PAYMENTS, _CALLS, _RECORDINGS,
    _CALL_PAYMENTS, _CALL_PROMISES, _PROMISES, _PLANS, _INSTALMENTS, _REMINDERS,
    _REMINDER_MESSAGES,
    order_by=("part", "k"),
)  # fmt: skip


async def customer_panel(
    database: Database, tenant_id: int, customer_id: int, today: date
) -> dict[str, Any] | None:
    async with database.tenant_connection(tenant_id) as connection:
        rows = await connection.rows(_PANEL, {"customer_id": customer_id, "today": today})
    parts: dict[str, list[Any]] = {}
    for row in rows:
        parts.setdefault(row.part, []).append(row)
    if "customer" not in parts:  # no such customer in this business
        return None
    customer = parts["customer"][0]
    pending = {row.ref_id: int(row.amount) for row in parts.get("pending", ())}
    return {
        "customer": {"id": customer.id, "ref": customer.ref, "name": customer.label,
                     "email": customer.text},
        "accounts": [
            {"id": a.id, "ref": a.ref, "currency": a.currency, "balance_minor": a.amount,
             "status": a.status, "vip": a.flag,
             "pending_in_billing_minor": pending.get(a.id, 0),
             "reported_balance_minor": a.figure,
             "reported_at": a.at.isoformat() if a.at else None}
            for a in parts.get("account", ())
        ],
        "overdue_invoices": [
            {"id": i.id, "ref": i.ref, "account_id": i.ref_id, "currency": i.currency,
             "outstanding_minor": i.amount, "due_on": i.day.isoformat(),
             "days_overdue": (today - i.day).days}
            for i in parts.get("overdue", ())
        ],
        "mandates": [
            {"id": m.id, "account_id": m.ref_id, "scheme": m.label, "status": m.status,
             "provider": m.text}
            for m in parts.get("mandate", ())
        ],
        "payments": [
            {"id": p.id, "account_id": p.ref_id, "amount_minor": p.amount,
             "currency": p.currency, "method": p.label, "status": p.status,
             "at": p.at.isoformat()}
            for p in parts.get("payment", ())
        ],
        "recent_calls": _recent_calls(parts),
        **_promises_and_plans(parts),
        "reminders": reminders_on_pop(parts),
    }  # fmt: skip


def _recent_calls(parts: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The last calls, each with its recording to play, an excerpt of its notes, and the
    promises and payments taken in it."""
    recorded = {row.ref_id: row.id for row in parts.get("recording", ())}
    taken: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for p in parts.get("call_payment", ()):
        taken.setdefault(("payments", p.ref_id), []).append(
            {"id": p.id, "amount_minor": p.amount, "currency": p.currency, "method": p.label,
             "status": p.status})  # fmt: skip
    for p in parts.get("call_promise", ()):
        taken.setdefault(("promises", p.ref_id), []).append(
            {"id": p.id, "amount_minor": p.amount, "currency": p.currency,
             "due_on": p.day.isoformat(), "status": p.status})  # fmt: skip
    return [
        {"id": c.id, "at": c.at.isoformat(), "outcome": c.label, "disposition": c.status,
         "notes": notes_excerpt(c.text), "recording_id": recorded.get(c.id),
         "promises": taken.get(("promises", c.id), []),
         "payments": taken.get(("payments", c.id), [])}
        for c in parts.get("call", ())
    ]  # fmt: skip


def notes_excerpt(notes: str | None) -> str | None:
    """A call's notes as the panel shows them: card-like digits masked, at most
    NOTES_EXCERPT characters."""
    if notes is None:
        return None
    return cap(mask_card_numbers(notes), NOTES_EXCERPT)


def _promises_and_plans(parts: dict[str, list[Any]]) -> dict[str, Any]:
    """The newest promises (open, kept, broken, cancelled) and plans, with the instalments of
    the active ones (`billing_bridge.collections`)."""
    instalments: dict[int, list[Any]] = {}
    for i in parts.get("instalment", ()):
        instalments.setdefault(i.ref_id, []).append(
            {"due_on": i.day.isoformat(), "amount_minor": i.amount, "paid_minor": i.figure,
             "status": i.status})  # fmt: skip
    return {
        "promises": [
            {"id": p.id, "account_id": p.ref_id, "amount_minor": p.amount,
             "currency": p.currency, "due_on": p.day.isoformat(), "method": p.label,
             "status": p.status, "paid_minor": p.figure,
             "decided_at": p.at.isoformat() if p.at else None}
            for p in parts.get("promise", ())
        ],
        "plans": [
            {"id": p.id, "account_id": p.ref_id, "total_minor": p.amount,
             "paid_minor": p.figure, "currency": p.currency, "status": p.status,
             "frequency": p.label, "method": p.text,
             "instalments": instalments.get(p.id, [])}
            for p in parts.get("plan", ())
        ],
    }  # fmt: skip
