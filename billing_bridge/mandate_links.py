"""A direct-debit mandate set up through the provider's hosted page, sent to the caller by
SMS or email: the mandate row, its outbox message and the audit entry in one transaction,
then the delivery (its outcome kept on the message). Webhooks keep the mandate current.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from billing_bridge.events import changes
from billing_bridge.payments import provider_customers
from billing_bridge.payments.ledger import AccountNotFound
from billing_bridge.payments.pay_links import MessageSender, deliver, mask
from billing_bridge.payments.port import PaymentProvider
from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import Account, Customer, Mandate, OutboxMessage, Tenant

# The direct-debit scheme of each country whose bank details can be taken by phone.
SCHEME_BY_COUNTRY = {"IL": "masav", "GB": "bacs", "LT": "sepa_core", "US": "ach"}
DEFAULT_SCHEME = "sepa_core"


@dataclass(frozen=True, slots=True)
class MandateParty:
    """The caller's own account and what a mandate for it needs to know about them."""

    account_id: int
    customer_id: int
    name: str
    customer_ref: str
    email: str | None
    region: str  # the business's default region


@dataclass(frozen=True, slots=True)
class MandateLinkOrder:
    tenant_id: int
    call_record_id: int
    party: MandateParty
    scheme: str
    channel: str
    recipient: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class MandateLinkSent:
    mandate_id: int
    scheme: str
    status: str
    url: str | None
    sent: str  # sent, failed
    to: str  # masked


async def mandate_party(
    database: Database, tenant_id: int, account_id: int, customer_id: int | None
) -> MandateParty:
    """Raises `AccountNotFound` unless the account is the caller's."""
    async with database.tenant_autocommit(tenant_id) as session:
        account = await session.get(Account, account_id)
        tenant = await session.get(Tenant, tenant_id)
        customer = await session.get(Customer, customer_id) if customer_id else None
    if account is None or customer is None or tenant is None or account.customer_id != customer.id:
        raise AccountNotFound(f"no account {account_id} for this caller")
    return MandateParty(account.id, customer.id, customer.name, customer.customer_ref,
                        customer.email, tenant.default_region)  # fmt: skip


async def send_mandate_link(
    database: Database, provider: PaymentProvider, sender: MessageSender,
    order: MandateLinkOrder, *, now: datetime,
) -> MandateLinkSent:  # fmt: skip
    """Raises the provider's `ProviderError` before anything is written."""
    party, to = order.party, order.recipient
    key = f"call{order.call_record_id}-mandate-link-{secrets.token_hex(8)}"
    payer = await provider_customers.payer_of(
        database, order.tenant_id, party.customer_id, provider.name, name=party.name,
        email=party.email,
    )  # fmt: skip
    result = await provider.create_mandate_link(
        scheme=order.scheme, idempotency_key=key, customer_ref=party.customer_ref,
        customer_name=party.name, payer=payer,
    )  # fmt: skip
    async with database.tenant_session(order.tenant_id) as session, session.begin():
        mandate = Mandate(customer_id=party.customer_id, account_id=party.account_id,
                          provider=provider.name, provider_ref=result.provider_ref,
                          scheme=order.scheme, status=result.status.value)  # fmt: skip
        session.add(mandate)
        await provider_customers.remember(session, order.tenant_id, party.customer_id,
                                          provider.name, result.provider_customer_id)  # fmt: skip
        await session.flush()
        await changes.mandate_created(session, mandate)
        message = OutboxMessage(
            channel=order.channel, recipient=to, subject="Set up your direct debit",
            body=f"Set up your direct debit ({order.scheme}): {result.setup_url}",
            call_id=order.call_record_id, mandate_id=mandate.id,
        )  # fmt: skip
        session.add(message)
        await session.flush()
        record(session, tenant_id=order.tenant_id, actor=order.actor, action="mandate.link",
               target=Target("mandate", mandate.id),
               details={"account_id": party.account_id, "scheme": order.scheme,
                        "to": mask(to)})  # fmt: skip
        mandate_id, message_id = mandate.id, message.id
    sent = await deliver(database, sender, order.tenant_id, message_id, now=now)
    return MandateLinkSent(mandate_id, order.scheme, result.status.value, result.setup_url,
                           sent, mask(to))  # fmt: skip
