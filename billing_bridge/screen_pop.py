"""What an agent sees about a caller the moment the call is offered: the customer, their
accounts and balances, overdue invoices, mandates, last payments and recent calls.

Reads one tenant's rows through a tenant reader (no transaction). Money stays integer minor
units beside its currency; times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select

from pbx.db.database import Database
from pbx.db.models import Account, Call, Customer, Invoice, Mandate, Payment, Recording
from pbx.db.scoped import Scoped

RECENT = 5

# Built once, run for every offered call (see pbx.db.scoped). Every statement but the first
# is also narrowed by the customer, whose tenant the first one checks.
_CUSTOMER = bindparam("customer_id")
_WHO = (Customer.id, Customer.customer_ref, Customer.name, Customer.email)
_ACCOUNTS = Scoped(  # the customer, once per account
    select(
        *_WHO, Account.id.label("account_id"), Account.account_ref, Account.currency,
        Account.balance_minor, Account.status, Account.vip,
    )
    .join(Account, Account.customer_id == Customer.id)
    .where(Customer.id == _CUSTOMER)
    .order_by(Account.id),
    Customer, Account,
)  # fmt: skip
_CUSTOMER_ONLY = Scoped(select(*_WHO).where(Customer.id == _CUSTOMER), Customer)
_OVERDUE = Scoped(
    select(
        Invoice.invoice_ref, Invoice.account_id, Invoice.currency, Invoice.outstanding_minor,
        Invoice.due_on,
    )
    .join(Account, Invoice.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER, Invoice.status == "open",
           Invoice.outstanding_minor > 0, Invoice.due_on < bindparam("today"))
    .order_by(Invoice.due_on),
    Invoice, Account,
)  # fmt: skip
_MANDATES = Scoped(
    select(Mandate.id, Mandate.account_id, Mandate.scheme, Mandate.status, Mandate.provider)
    .where(Mandate.customer_id == _CUSTOMER)
    .order_by(Mandate.id),
    Mandate,
)
_PAYMENTS = Scoped(
    select(Payment.id, Payment.account_id, Payment.amount_minor, Payment.currency,
           Payment.method, Payment.status, Payment.created_at)
    .join(Account, Payment.account_id == Account.id)
    .where(Account.customer_id == _CUSTOMER)
    .order_by(Payment.created_at.desc())
    .limit(RECENT),
    Payment, Account,
)  # fmt: skip
_CALLS = Scoped(
    select(Call.id, Call.arrived_at, Call.outcome, Call.disposition, Call.notes)
    .where(Call.customer_id == _CUSTOMER)
    .order_by(Call.arrived_at.desc())
    .limit(RECENT + 1),
    Call,
)

# One parameter per call `_CALLS` can return, rather than an expanding list: a statement of
# fixed shape is sent straight to PostgreSQL (`pbx/db/direct.py`).
_CALL_SLOTS = tuple(f"call_{n}" for n in range(RECENT + 1))
_RECORDINGS = Scoped(  # each past call's newest stored recording, for the desk to play
    select(Recording.call_id, func.max(Recording.id).label("recording_id"))
    .where(Recording.call_id.in_([bindparam(slot) for slot in _CALL_SLOTS]),
           Recording.status == "stored")
    .group_by(Recording.call_id),
    Recording,
)  # fmt: skip


async def customer_panel(
    database: Database, tenant_id: int, customer_id: int, today: date
) -> dict[str, Any] | None:
    of_customer = {"customer_id": customer_id}
    async with database.tenant_connection(tenant_id) as connection:
        accounts = await connection.rows(_ACCOUNTS, of_customer)
        customer = accounts[0] if accounts else None
        if customer is None:  # no accounts yet, or no such customer in this business
            customer = (await connection.rows(_CUSTOMER_ONLY, of_customer) or [None])[0]
            if customer is None:
                return None
        overdue = await connection.rows(_OVERDUE, of_customer | {"today": today})
        mandates = await connection.rows(_MANDATES, of_customer)
        payments = await connection.rows(_PAYMENTS, of_customer)
        calls = await connection.rows(_CALLS, of_customer)
        recorded = {}
        if calls:
            ids = [c.id for c in calls]
            slots = {slot: ids[min(n, len(ids) - 1)] for n, slot in enumerate(_CALL_SLOTS)}
            found = await connection.rows(_RECORDINGS, slots)
            recorded = {row.call_id: row.recording_id for row in found}
    return {
        "customer": {"id": customer.id, "ref": customer.customer_ref, "name": customer.name,
                     "email": customer.email},
        "accounts": [
            {"id": a.account_id, "ref": a.account_ref, "currency": a.currency,
             "balance_minor": a.balance_minor, "status": a.status, "vip": a.vip}
            for a in accounts
        ],
        "overdue_invoices": [
            {"ref": i.invoice_ref, "account_id": i.account_id, "currency": i.currency,
             "outstanding_minor": i.outstanding_minor, "due_on": i.due_on.isoformat(),
             "days_overdue": (today - i.due_on).days}
            for i in overdue
        ],
        "mandates": [
            {"id": m.id, "account_id": m.account_id, "scheme": m.scheme, "status": m.status,
             "provider": m.provider}
            for m in mandates
        ],
        "payments": [
            {"id": p.id, "account_id": p.account_id, "amount_minor": p.amount_minor,
             "currency": p.currency, "method": p.method, "status": p.status,
             "at": p.created_at.isoformat()}
            for p in payments
        ],
        "recent_calls": [
            {"id": c.id, "at": c.arrived_at.isoformat(), "outcome": c.outcome,
             "disposition": c.disposition, "notes": c.notes,
             "recording_id": recorded.get(c.id)}
            for c in calls
        ],
    }  # fmt: skip
