"""Demo businesses and customers: an energy supplier in Israel and one in Lithuania.

Written so that every kind of caller shows up in the demo: a VIP, accounts in arrears, a
suspended account, a household sharing one number, several accounts for one customer, and
customers with direct-debit mandates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.phones import to_e164
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    Customer,
    CustomerPhone,
    InboundNumber,
    Invoice,
    Mandate,
    Tenant,
)


@dataclass(frozen=True)
class DemoAccount:
    ref: str
    balance: int  # minor units owed
    status: str = "active"
    vip: bool = False
    overdue_days: tuple[int, ...] = ()  # an open invoice due this many days ago, each
    mandate: str | None = None  # direct-debit scheme, when the account pays automatically


@dataclass(frozen=True)
class DemoCustomer:
    ref: str
    name: str
    phones: tuple[str, ...]  # as people write them locally
    accounts: tuple[DemoAccount, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    region: str
    currency: str
    timezone: str
    dids: tuple[str, ...]
    customers: tuple[DemoCustomer, ...] = field(default=())


OFEK = DemoTenant(
    "ofek", "אופק אנרגיה בע״מ", "IL", "ILS", "Asia/Jerusalem", ("03-763-0100", "03-763-0101"),
    (
        DemoCustomer("IL-1001", "שרה כהן", ("050-234-5678",), (
            DemoAccount("OF-55001", 45_050, "overdue", overdue_days=(34,)),), "sara@example.co.il"),
        DemoCustomer("IL-1002", "יוסי לוי", ("052-345-6789", "03-555-1234"), (
            DemoAccount("OF-55002", 0, vip=True, mandate="masav"),)),
        DemoCustomer("IL-1003", "אבי אברהם", ("054-678-9012",), (
            DemoAccount("OF-55003", 12_000, overdue_days=(12,)),)),
        DemoCustomer("IL-1004", "דנה אברהם", ("054-678-9012", "058-765-4321"), (
            DemoAccount("OF-55004", 8_990),)),
        DemoCustomer("IL-1005", "רחל מזרחי", ("077-123-4567",), (
            DemoAccount("OF-55005", 210_000, "suspended", overdue_days=(95, 64, 33)),)),
        DemoCustomer("IL-1006", "Michael Friedman", ("052-987-6543",), (
            DemoAccount("OF-55006", 15_500), DemoAccount("OF-55016", 3_200, mandate="masav"),)),
        DemoCustomer("IL-1007", "נועה ביטון", ("054-876-5432",), (
            DemoAccount("OF-55007", 0, "closed"),)),
    ),
)  # fmt: skip

SAULE = DemoTenant(
    "saule", "UAB „Saulės energija“", "LT", "EUR", "Europe/Vilnius", ("8 5 214 0100",),
    (
        DemoCustomer("LT-2001", "Žygimantas Šimkūnas", ("8 612 34567",), (
            DemoAccount("SE-7001", 8_450, "overdue", overdue_days=(21,)),), "zygis@example.lt"),
        DemoCustomer("LT-2002", "Ona Kazlauskienė", ("8 650 12345",), (
            DemoAccount("SE-7002", 0, mandate="sepa_core"),)),
        DemoCustomer("LT-2003", "Jonas Petrauskas", ("8 687 12345",), (
            DemoAccount("SE-7003", 129_900, vip=True),)),
        DemoCustomer("LT-2004", "Rūta Jankauskaitė", ("8 676 54321", "8 5 234 5678"), (
            DemoAccount("SE-7004", 31_075, "overdue", overdue_days=(48, 17)),)),
        DemoCustomer("LT-2005", "Vytautas Vaitkus", ("8 5 234 5678",), (
            DemoAccount("SE-7005", 4_100),)),
        DemoCustomer("LT-2006", "Eglė Žukauskienė", ("8 699 12345",), (
            DemoAccount("SE-7006", 56_000, "suspended", overdue_days=(70, 40)),)),
    ),
)  # fmt: skip

DEMO_TENANTS = (OFEK, SAULE)


async def seed_demo_data(database: Database, today: date) -> bool:
    """Write the demo businesses once; False when they are already there."""
    async with database.system_session() as session, session.begin():
        if await session.scalar(select(Tenant.id).where(Tenant.slug == OFEK.slug)):
            return False
        for demo in DEMO_TENANTS:
            tenant = Tenant(
                slug=demo.slug, name=demo.name, default_region=demo.region,
                currency=demo.currency, timezone=demo.timezone,
            )  # fmt: skip
            session.add(tenant)
            await session.flush()
            for did in demo.dids:
                session.add(InboundNumber(tenant_id=tenant.id, e164=_e164(did, demo.region)))
            for customer in demo.customers:
                await _add_customer(session, tenant, demo, customer, today)
    return True


async def _add_customer(
    session: AsyncSession, tenant: Tenant, demo: DemoTenant, spec: DemoCustomer, today: date
) -> None:
    customer = Customer(
        tenant_id=tenant.id, customer_ref=spec.ref, name=spec.name, email=spec.email
    )
    customer.phones = [
        CustomerPhone(tenant_id=tenant.id, e164=_e164(p, demo.region)) for p in spec.phones
    ]
    session.add(customer)
    await session.flush()
    for spec_account in spec.accounts:
        account = Account(
            tenant_id=tenant.id, customer_id=customer.id, account_ref=spec_account.ref,
            currency=demo.currency, balance_minor=spec_account.balance,
            status=spec_account.status, vip=spec_account.vip,
        )  # fmt: skip
        session.add(account)
        await session.flush()
        for index, days in enumerate(spec_account.overdue_days):
            share = spec_account.balance // len(spec_account.overdue_days)
            session.add(
                Invoice(
                    tenant_id=tenant.id,
                    account_id=account.id,
                    invoice_ref=f"{spec_account.ref}-{index + 1:03d}",
                    currency=demo.currency,
                    amount_minor=share,
                    outstanding_minor=share,
                    issued_on=today - timedelta(days=days + 30),
                    due_on=today - timedelta(days=days),
                )
            )
        if spec_account.mandate:
            session.add(
                Mandate(
                    tenant_id=tenant.id,
                    customer_id=customer.id,
                    account_id=account.id,
                    provider="sandbox",
                    provider_ref=f"MD-{spec_account.ref}",
                    scheme=spec_account.mandate,
                    status="active",
                )
            )


def _e164(number: str, region: str) -> str:
    e164 = to_e164(number, region)
    if e164 is None:
        raise ValueError(f"demo number {number!r} is not valid in {region}")
    return e164
