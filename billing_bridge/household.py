"""A number shared by several customers (a household): who they are, for the agent to pick
the one on the line.

The pop of such a call lists them (name, reference, what each owes and in which currency),
at most `SHOWN`, with how many more share the number; the agent's pick attaches that
customer to the call (`billing_bridge.call_customer`). One statement, through a tenant
session: its scoping puts the accounts' tenant in the outer join's condition, so a customer
without an account is still listed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, select

from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone

SHOWN = 10


@dataclass(frozen=True, slots=True)
class Member:
    customer_id: int
    ref: str
    name: str
    balance_minor: int  # what they owe over their accounts (in `currency`)
    currency: str | None  # None: accounts in several currencies (or none)


@dataclass(frozen=True, slots=True)
class Household:
    members: tuple[Member, ...]
    more: int  # how many more customers share the number than are listed

    def to_json(self) -> dict[str, Any]:
        return {"members": [asdict(m) for m in self.members], "more": self.more}


_MEMBERS = (
    select(
        Customer.id, Customer.customer_ref, Customer.name,
        # (PostgreSQL's SUM of BIGINT is NUMERIC)
        cast(func.coalesce(func.sum(Account.balance_minor), 0), BigInteger()).label("owed"),
        func.count(func.distinct(Account.currency)).label("currencies"),
        func.min(Account.currency).label("currency"),
        func.count().over().label("sharing"),  # every customer of the number, before LIMIT
    )
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .outerjoin(Account, Account.customer_id == Customer.id)
    .where(CustomerPhone.e164 == bindparam("e164"))
    .group_by(Customer.id, Customer.customer_ref, Customer.name)
    .order_by(Customer.name, Customer.id)
    .limit(bindparam("shown"))
)  # fmt: skip


async def household(database: Database, tenant_id: int, e164: str, shown: int = SHOWN) -> Household:
    """The business's customers with this number, by name, at most `shown` of them."""
    async with database.tenant_autocommit(tenant_id) as session:
        rows = (await session.execute(_MEMBERS, {"e164": e164, "shown": shown})).all()
    members = tuple(_member(row) for row in rows)
    sharing = int(rows[0].sharing) if rows else 0
    return Household(members, sharing - len(members))


def _member(row: Any) -> Member:
    currency = row.currency if row.currencies == 1 else None
    return Member(row.id, row.customer_ref, row.name, int(row.owed), currency)
