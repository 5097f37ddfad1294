"""Finding a customer from what an agent types: part of the name, the exact reference, or a
phone number in any form the business's region reads.

The text is matched as typed: `%`, `_` and the escape character are escaped, so `%` finds a
name with a percent sign in it rather than every customer. Text with a NUL or another control
character is refused (PostgreSQL refuses NUL in text; nobody types one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from billing_bridge.phones import to_e164
from pbx.db.models import Customer, CustomerPhone, Tenant
from pbx.db.tenancy import TENANT_KEY

MIN_LENGTH, MAX_LENGTH = 2, 100
MAX_HITS = 20
ESCAPE = "\\"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SearchRefused(ValueError):
    """The search text cannot be searched for; the message says why (no value in it)."""


@dataclass(frozen=True)
class CustomerMatch:
    id: int
    ref: str
    name: str
    phones: list[str]
    balance_minor: int
    currency: str | None  # None when the accounts are in several currencies


def search_text(text: str) -> str:
    """The text to search for, trimmed; refused when it is too short, too long or holds a
    control character."""
    if _CONTROL.search(text):
        raise SearchRefused("must not contain control characters")
    text = text.strip()
    if len(text) < MIN_LENGTH:
        raise SearchRefused(f"at least {MIN_LENGTH} characters")
    if len(text) > MAX_LENGTH:
        raise SearchRefused(f"at most {MAX_LENGTH} characters")
    return text


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, every character taken literally."""
    escaped = (
        text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    )
    return f"%{escaped}%"


async def search_customers(session: AsyncSession, text: str) -> list[CustomerMatch]:
    """Customers of the session's tenant whose name holds the text, whose reference is it, or
    who have the phone number it reads as in the tenant's region; by name, at most MAX_HITS."""
    text = search_text(text)
    e164 = None
    if any(ch.isdigit() for ch in text):
        tenant = await session.get(Tenant, session.info[TENANT_KEY])
        e164 = to_e164(text, tenant.default_region) if tenant else None
    matches = [
        Customer.name.ilike(contains_pattern(text), escape=ESCAPE),
        Customer.customer_ref == text,
    ]
    if e164:
        phone_owners = select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)
        matches.append(Customer.id.in_(phone_owners))
    query = (
        select(Customer)
        .options(selectinload(Customer.phones), selectinload(Customer.accounts))
        .where(or_(*matches))
        .order_by(Customer.name, Customer.id)
        .limit(MAX_HITS)
    )
    hits = []
    for row in await session.scalars(query):
        currencies = {a.currency for a in row.accounts}
        hits.append(
            CustomerMatch(
                id=row.id, ref=row.customer_ref, name=row.name,
                phones=[p.e164 for p in row.phones],
                balance_minor=sum(a.balance_minor for a in row.accounts),
                currency=currencies.pop() if len(currencies) == 1 else None,
            )
        )  # fmt: skip
    return hits
