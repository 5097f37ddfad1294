"""Pay-by-link: a provider's payment page sent to the customer by SMS or email.

The link is kept as a pending payment (method "link") and the message goes through the
outbox, so what was sent, to whom and whether it went out is on record; the provider's
webhook (`webhooks.py`) completes the payment when the customer pays.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from billing_bridge.money import format_minor
from billing_bridge.payments.port import PayLink, PaymentProvider
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import OutboxMessage, Payment

log = logging.getLogger(__name__)


class MessageSender(Protocol):
    """Sends an SMS or an email; raises on failure (the message stays in the outbox)."""

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None: ...


class OutboxOnlySender:
    """The embedded default: the outbox row and a log line are the delivery."""

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        log.info("%s to %s: %s (the text is in the outbox)", channel, mask(recipient), subject)


def mask(recipient: str) -> str:
    """Enough to recognise whom, not enough to copy: +9725•••4567, d•••@example.com."""
    if "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}•••@{domain}"
    return f"{recipient[:5]}•••{recipient[-4:]}"


@dataclass(frozen=True)
class LinkSent:
    payment_id: int
    message_id: int
    url: str
    status: str  # sent, failed


async def pay_link_or_none(
    provider: PaymentProvider, *, amount_minor: int, currency: str, idempotency_key: str,
    description: str, customer_ref: str, about: str,
) -> PayLink | None:  # fmt: skip
    """The provider's link, or None when the provider failed (logged with `about`, never the
    customer's details): the caller tries again on its next pass, under the same key."""
    try:
        return await provider.create_pay_link(
            amount_minor=amount_minor, currency=currency, idempotency_key=idempotency_key,
            description=description, customer_ref=customer_ref,
        )  # fmt: skip
    except Exception as exc:  # any provider failure: nothing was written yet
        log.warning("%s: no pay link (%s)", about, type(exc).__name__)
        return None


async def send_pay_link(
    database: Database,
    provider: PaymentProvider,
    sender: MessageSender,
    tenant_id: int,
    *,
    account_id: int,
    customer_ref: str,
    call_id: int | None,
    amount_minor: int,
    currency: str,
    channel: str,
    recipient: str,
    actor_id: int,
    actor_label: str,
    now: datetime,
) -> LinkSent:
    key = f"paylink-{call_id or 'desk'}-{secrets.token_hex(8)}"
    link = await provider.create_pay_link(
        amount_minor=amount_minor, currency=currency, idempotency_key=key,
        description=f"Payment for account {account_id}", customer_ref=customer_ref,
    )  # fmt: skip
    subject = f"Your payment link for {format_minor(amount_minor, currency)} {currency}"
    body = f"{subject}: {link.url}"
    async with database.tenant_session(tenant_id) as session, session.begin():
        payment = Payment(account_id=account_id, amount_minor=amount_minor, currency=currency,
                          method="link", provider=provider.name, provider_ref=link.provider_ref,
                          idempotency_key=key, status="pending", call_id=call_id)  # fmt: skip
        session.add(payment)
        await session.flush()
        message = OutboxMessage(channel=channel, recipient=recipient, subject=subject, body=body,
                                call_id=call_id, payment_id=payment.id)  # fmt: skip
        session.add(message)
        await session.flush()
        record(
            session, tenant_id=tenant_id, actor=By(actor_label, actor_id), action="payment.link",
            target=Target("payment", payment.id),
            details={"account_id": account_id, "amount_minor": amount_minor,
                     "currency": currency, "channel": channel, "to": mask(recipient)},
        )  # fmt: skip
        payment_id, message_id = payment.id, message.id
    status = await deliver(database, sender, tenant_id, message_id, now=now)
    return LinkSent(payment_id, message_id, link.url, status)


async def deliver(
    database: Database, sender: MessageSender, tenant_id: int, message_id: int, *, now: datetime
) -> str:
    """Send one queued message and record the outcome; "sent" or "failed"."""
    async with database.tenant_session(tenant_id) as session:
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    if message is None:
        raise LookupError(f"no outbox message {message_id}")
    try:
        await sender.send(message.channel, message.recipient, message.subject, message.body)
        outcome, error = "sent", None
    except Exception as exc:  # any sender failure: kept for a retry, not lost
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        log.warning("outbox message %s not sent: %s", message_id, error)
    async with database.tenant_session(tenant_id) as session, session.begin():
        row = await session.get(OutboxMessage, message_id)
        assert row is not None
        row.status, row.attempts, row.last_error = outcome, row.attempts + 1, error
        row.sent_at = now if outcome == "sent" else None
    return outcome
