"""Stripe's `customer.*` and `invoice.*` events keep a business's Stripe customers and
invoices current (the signature is verified by the Stripe adapter before this reads them).

Which business: one Stripe account serves the deployment, so an event is the business's
whose customer it names (`provider_customers`). A customer made at Stripe after the last
sync names its business by slug in its `metadata[ledgerline_tenant]` (the one metadata key
read); without it the event is kept as not_found and the next sync brings the customer in.

Each event is applied once (`webhook_events`, unique by provider and event id: a replay is
`duplicate`). Its object is the state at the event's `created` time, which is the version it
writes (`store`): an event older than the state kept is `stale` and changes nothing. An
applied change is audited in its transaction; the numbers whose caller lookup may now answer
differently are returned for the cache to forget once it is committed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.payments import event_fields as fields
from billing_bridge.stripe_billing import mapping, store
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Tenant
from pbx.db.models import WebhookEvent as ReceivedEvent

log = logging.getLogger(__name__)

STRIPE = By("stripe")
CUSTOMER_EVENTS = frozenset({"customer.created", "customer.updated", "customer.deleted"})
# invoice.upcoming is a preview with no id; invoice.deleted is a draft's (never kept here).
_NOT_AN_INVOICE = frozenset({"invoice.upcoming", "invoice.deleted"})
TENANT_KEY = "ledgerline_tenant"


@dataclass(frozen=True)
class BillingEvent:
    event_id: str
    type: str
    created: datetime
    obj: dict[str, Any]

    @property
    def about_customer(self) -> bool:
        return self.type in CUSTOMER_EVENTS

    @property
    def stripe_customer(self) -> str:
        where = "data.object."
        if self.about_customer:
            return fields.ident(self.obj, "id", where)
        value = self.obj.get("customer")
        if isinstance(value, dict):
            return fields.ident(value, "id", f"{where}customer.")
        return fields.ident(self.obj, "customer", where)


@dataclass
class BillingApplied:
    event_id: str
    outcome: str  # created, updated, unchanged, stale, not_found, duplicate, skipped, refused
    tenant_id: int | None = None
    numbers: set[str] = field(default_factory=set)
    customer_ids: set[int] = field(default_factory=set)  # changed: their desks hear of it


def billing_event(body: bytes) -> BillingEvent | None:
    """The event in a verified body if it is one of Stripe Billing's that this module applies;
    None for every other event (payments and mandates go their own way). Raises
    `WebhookMalformed` naming a field that is not what Stripe sends."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if not isinstance(kind, str):
        return None
    if kind not in CUSTOMER_EVENTS and not (
        kind.startswith("invoice.") and kind not in _NOT_AN_INVOICE
    ):
        return None
    obj = fields.obj(fields.obj(event, "data", ""), "object", "data.")
    return BillingEvent(fields.ident(event, "id", ""), kind, mapping.event_moment(event), obj)


async def apply_billing_event(
    database: Database, event: BillingEvent, *, now: datetime
) -> BillingApplied:
    """Raises `WebhookMalformed` (nothing applied) when a field is not what Stripe sends."""
    stripe_customer = event.stripe_customer
    async with database.system_session() as session:
        tenant_id = await store.tenant_of_stripe_customer(session, stripe_customer)
        if tenant_id is None and event.about_customer:
            tenant_id = await _tenant_named(session, event.obj)
    if tenant_id is None:
        return await _keep_unapplied(database, event, stripe_customer, now)
    try:
        async with database.tenant_session(tenant_id) as session, session.begin():
            kept = _received(event, stripe_customer, now, "applied")
            session.add(kept)
            try:
                await session.flush()  # the unique key refuses a replay here
            except IntegrityError:
                raise _Replayed from None
            # Anything refused from here on (a customer the sync is making at this moment)
            # rolls the event back with it: Stripe is answered 500 and sends it again.
            applied = await _apply(session, tenant_id, event)
            kept.outcome = applied.outcome[:16]
    except _Replayed:
        return BillingApplied(event.event_id, "duplicate", tenant_id)
    if applied.outcome not in ("created", "updated"):
        log.info("stripe event %s (%s): %s", event.event_id, event.type, applied.outcome)
    return applied


class _Replayed(Exception):
    """The event id is kept already: this delivery is a replay."""


async def _apply(session: AsyncSession, tenant_id: int, event: BillingEvent) -> BillingApplied:
    business = await store.business_by_id(session, tenant_id)
    version = mapping.version_of(event.created)
    if event.about_customer:
        wanted_customer = mapping.customer_record(event.obj, business, version)
        if event.type == "customer.deleted":
            wanted_customer = replace(wanted_customer, deleted=True)
        written = await store.upsert_customer(session, business, wanted_customer)
        target = "customer"
    else:
        try:
            wanted = mapping.invoice_record(event.obj, business, version)
        except mapping.WrongCurrency as exc:
            log.warning("stripe event %s: %s", event.event_id, exc)
            return BillingApplied(event.event_id, "refused", tenant_id)
        if wanted is None:  # a draft: not owed yet
            return BillingApplied(event.event_id, "skipped", tenant_id)
        written = await store.upsert_invoice(session, business, wanted)
        if written.account_id is not None and written.outcome is not store.Outcome.STALE:
            await store.state_stripe_balance(session, written.account_id)
        target = "invoice"
    if written.outcome in (store.Outcome.CREATED, store.Outcome.UPDATED):
        record(
            session, tenant_id=tenant_id, actor=STRIPE, action=f"stripe.{target}",
            target=Target("account", written.account_id),
            details={"event": event.event_id, "type": event.type,
                     "stripe_id": fields.ident(event.obj, "id", "data.object."),
                     "outcome": str(written.outcome)},
        )  # fmt: skip
    changed = {written.customer_id} if written.customer_id is not None else set()
    return BillingApplied(event.event_id, str(written.outcome), tenant_id, written.numbers,
                          changed)  # fmt: skip


async def _tenant_named(session: AsyncSession, obj: dict[str, Any]) -> int | None:
    metadata = fields.obj(obj, "metadata", "data.object.")
    slug = metadata.get(TENANT_KEY)
    if not isinstance(slug, str) or not slug or len(slug) > 64:
        return None
    return await session.scalar(select(Tenant.id).where(Tenant.slug == slug))


async def _keep_unapplied(
    database: Database, event: BillingEvent, stripe_customer: str, now: datetime
) -> BillingApplied:
    try:
        async with database.system_session() as session, session.begin():
            session.add(_received(event, stripe_customer, now, "not_found"))
    except IntegrityError:
        return BillingApplied(event.event_id, "duplicate")
    log.info("stripe event %s (%s): customer %s is no business's", event.event_id,
             event.type, stripe_customer)  # fmt: skip
    return BillingApplied(event.event_id, "not_found")


def _received(event: BillingEvent, stripe_customer: str, now: datetime, outcome: str) -> Any:
    ref = event.obj.get("id") if isinstance(event.obj.get("id"), str) else stripe_customer
    return ReceivedEvent(
        provider=mapping.PROVIDER, event_id=event.event_id, type=event.type[:64],
        resource="customer" if event.about_customer else "invoice", provider_ref=ref[:128],
        status=None, occurred_at=event.created, received_at=now, outcome=outcome,
    )  # fmt: skip
