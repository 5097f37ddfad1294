"""What an agent sees about a caller the moment the call is offered: the customer, their
accounts and balances, overdue invoices, mandates, last payments and recent calls.

Reads one tenant's rows through a tenant reader (no transaction). Money stays integer minor
units beside its currency; times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, select

from pbx.db.database import Database
from pbx.db.models import Account, Call, Customer, Invoice, Mandate, Payment

RECENT = 5


async def customer_panel(
    database: Database, tenant_id: int, customer_id: int, today: date
) -> dict[str, Any] | None:
    async with database.tenant_reader(tenant_id) as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return None

        async def rows(statement: Select[Any]) -> list[Any]:
            return list(await session.scalars(statement))

        accounts = await rows(
            select(Account).where(Account.customer_id == customer_id).order_by(Account.id)
        )
        account_ids = [a.id for a in accounts]
        overdue = await rows(
            select(Invoice)
            .where(
                Invoice.account_id.in_(account_ids),
                Invoice.status == "open",
                Invoice.outstanding_minor > 0,
                Invoice.due_on < today,
            )
            .order_by(Invoice.due_on)
        )
        mandates = await rows(
            select(Mandate).where(Mandate.customer_id == customer_id).order_by(Mandate.id)
        )
        payments = await rows(
            select(Payment)
            .where(Payment.account_id.in_(account_ids))
            .order_by(Payment.created_at.desc())
            .limit(RECENT)
        )
        calls = await rows(
            select(Call)
            .where(Call.customer_id == customer_id)
            .order_by(Call.arrived_at.desc())
            .limit(RECENT + 1)
        )
    return {
        "customer": {"id": customer.id, "ref": customer.customer_ref, "name": customer.name,
                     "email": customer.email},
        "accounts": [
            {"id": a.id, "ref": a.account_ref, "currency": a.currency,
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
             "disposition": c.disposition, "notes": c.notes}
            for c in calls
        ],
    }  # fmt: skip
