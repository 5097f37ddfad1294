"""Businesses with mandates at the sandbox, and the sandbox's settlements applied to the
payments as the webhook handler would: the test's stand-in for time passing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from billing_bridge.payments.port import BankAccount, ChargeResult
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.database import Database
from pbx.db.models import Account, Customer, Invoice, Mandate, Payment
from tests.factories import make_tenant

GERMAN_ACCOUNT = BankAccount("DE", "Erika Mustermann", iban="DE89370400440532013000")


@dataclass
class Clock:
    """The sandbox's clock (webhook event times), moved by the test."""

    now: datetime = datetime(2027, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def on(self, day: date) -> datetime:
        self.now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        return self.now


def sandbox(clock: Clock) -> SandboxProvider:
    return SandboxProvider(webhook_secret="collection-tests", clock=clock)


def collections(provider: SandboxProvider) -> list[str]:
    """The payments the sandbox has made (each key charged once shows here once)."""
    return [ref for ref in provider.references() if ref.startswith("sbx_pay")]


@dataclass
class Business:
    tenant_id: int
    invoices: dict[str, int] = field(default_factory=dict)  # invoice ref -> id
    mandates: dict[str, int] = field(default_factory=dict)  # account ref -> mandate id


async def business(database: Database, slug: str, did: str) -> Business:
    return Business(await make_tenant(database, slug, "DE", "EUR", [did]))


async def debtor(
    database: Database,
    provider: SandboxProvider,
    owner: Business,
    ref: str,
    invoices: list[dict[str, Any]],
    mandate: str | None = "active",
) -> None:
    """A customer with one EUR account, its invoices, and a SEPA mandate in `mandate`
    status (also so at the sandbox), or none."""
    async with database.tenant_session(owner.tenant_id) as session, session.begin():
        customer = Customer(customer_ref=ref, name=ref.title())
        session.add(customer)
        await session.flush()
        account = Account(customer_id=customer.id, account_ref=ref, currency="EUR")
        session.add(account)
        await session.flush()
        for index, spec in enumerate(invoices):
            invoice = Invoice(
                account_id=account.id, invoice_ref=f"{ref}-{index}", currency="EUR",
                amount_minor=spec["amount_minor"], outstanding_minor=spec["amount_minor"],
                issued_on=spec["due_on"] - timedelta(days=14), due_on=spec["due_on"],
                status=spec.get("status", "open"),
            )  # fmt: skip
            session.add(invoice)
            await session.flush()
            owner.invoices[invoice.invoice_ref] = invoice.id
        if mandate is None:
            return
        result = await provider.create_mandate(
            GERMAN_ACCOUNT, scheme="sepa_core", idempotency_key=f"{owner.tenant_id}:{ref}",
            customer_ref=ref,
        )  # fmt: skip
        if mandate != "active":
            provider.settle(result.provider_ref, mandate)
        row = Mandate(
            customer_id=customer.id, account_id=account.id, provider="sandbox",
            provider_ref=result.provider_ref, scheme="sepa_core", status=mandate,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        owner.mandates[ref] = row.id


async def settle_all(database: Database, provider: SandboxProvider, tenant_id: int) -> int:
    """Settle every pending collection at the sandbox and apply its webhook to the payment
    row as the webhook handler does (status, failure code, event time). Returns how many."""
    settled = 0
    async with database.tenant_session(tenant_id) as session, session.begin():
        pending = await session.scalars(select(Payment).where(Payment.status == "pending"))
        for payment in pending:
            body, headers = provider.settle(payment.provider_ref)
            for event in provider.parse_webhook(body, headers):
                payment.status = event.status or payment.status
                payment.failure_reason = event.details.get("failure_code")
                payment.status_at = event.occurred_at
                settled += 1
    return settled


class DiesAfter:
    """The sandbox, but after `charges` answered collections the process dies (`error` is
    raised) right after the provider charged: killed half-way, answers not yet written."""

    def __init__(self, inner: SandboxProvider, charges: int, error: BaseException) -> None:
        self.name = inner.name
        self._inner, self._left, self._error = inner, charges, error

    async def charge_mandate(self, mandate_ref: str, **request: Any) -> ChargeResult:
        result = await self._inner.charge_mandate(mandate_ref, **request)
        self._left -= 1
        if self._left < 0:
            raise self._error
        return result
