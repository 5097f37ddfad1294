"""Stripe's Customer and Invoice objects read into Ledgerline's terms (pure: no I/O).

Every field is read for its type and size as a signed event's are (`event_fields`): a
malformed object is `WebhookMalformed` naming the field. What maps to what
(docs/stripe-billing.md):
- Customer: name (the email, then the id, when Stripe has none), email, phone (E.164 in the
  business's region; a number that is not one is dropped, counted, never guessed), address.
  `metadata` is ignored. The Stripe id is the customer's and its one account's reference.
- Invoice: the number (the id while a draft has none) is the reference; amount_due and
  amount_remaining in minor units; the currency upper-case and the business's, or refused;
  created is the issue date and due_date the due date (created + 30 days when Stripe has
  none: a charge_automatically invoice), both in the business's time zone. draft is skipped,
  open and uncollectible are open (still owed), paid is paid, void is void.

Versions: a record carries `source_version`, microseconds since the epoch of when its state
was read (the event's `created`, or the start of a sync): an older one never overwrites a
newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from billing_bridge.payments import event_fields as fields
from billing_bridge.payments.port import WebhookMalformed
from billing_bridge.phones import to_e164
from pbx.free_text import cap, clean_name, mask_card_numbers

PROVIDER = "stripe"
DEFAULT_TERMS = timedelta(days=30)  # due date of an invoice without one
MAX_REF = 64  # customers.customer_ref, accounts.account_ref, invoices.invoice_ref
# Stripe status -> Ledgerline's; absent: not an invoice Ledgerline keeps (a draft).
INVOICE_STATUS = {"open": "open", "uncollectible": "open", "paid": "paid", "void": "void"}


@dataclass(frozen=True)
class Business:
    """What mapping needs of the business the objects belong to."""

    tenant_id: int
    region: str
    currency: str
    timezone: str


@dataclass(frozen=True)
class Address:
    line1: str | None
    line2: str | None
    city: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True)
class CustomerRecord:
    stripe_id: str
    name: str
    email: str | None
    phone: str | None  # E.164
    phone_unusable: bool  # Stripe had a phone that is not a number in the business's region
    address: Address
    deleted: bool
    source_version: int


@dataclass(frozen=True)
class InvoiceRecord:
    stripe_id: str
    customer_id: str  # Stripe's cus_...
    ref: str
    currency: str
    amount_minor: int
    outstanding_minor: int
    issued_on: date
    due_on: date
    status: str  # open, paid, void
    summary: str | None
    source_version: int


class WrongCurrency(ValueError):
    """An invoice in another currency than the business's: not kept."""

    def __init__(self, stripe_id: str, currency: str) -> None:
        super().__init__(f"invoice {stripe_id} is in {currency}, not the business's currency")
        self.stripe_id, self.currency = stripe_id, currency


def version_of(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def customer_record(obj: dict[str, Any], business: Business, version: int) -> CustomerRecord:
    where = "data.object."
    stripe_id = _ref(obj, "id", where)
    deleted = obj.get("deleted") is True
    email = fields.text(obj.get("email"), 254)
    raw_phone = fields.text(obj.get("phone"), 40)
    phone = to_e164(raw_phone, business.region) if raw_phone else None
    name = _name(obj.get("name")) or email or stripe_id
    return CustomerRecord(
        stripe_id=stripe_id, name=name, email=email, phone=phone,
        phone_unusable=bool(raw_phone) and phone is None,
        address=_address(fields.obj(obj, "address", where)), deleted=deleted,
        source_version=version,
    )  # fmt: skip


def invoice_record(obj: dict[str, Any], business: Business, version: int) -> InvoiceRecord | None:
    """None for a draft (not owed yet)."""
    where = "data.object."
    stripe_id = _ref(obj, "id", where)
    status = INVOICE_STATUS.get(fields.name(obj, "status", where))
    if status is None:
        return None
    currency = fields.name(obj, "currency", where, 3).upper()
    if currency != business.currency:
        raise WrongCurrency(stripe_id, currency)
    due = fields.amount(obj, "amount_due", where)
    remaining = fields.amount(obj, "amount_remaining", where)
    if due is None or remaining is None:
        raise WebhookMalformed(f"{where}amount_due")
    zone = ZoneInfo(business.timezone)
    issued = fields.unix_time(obj, "created", where).astimezone(zone).date()
    due_date = obj.get("due_date")
    due_on = (fields.unix_time(obj, "due_date", where).astimezone(zone).date()
              if due_date is not None else issued + DEFAULT_TERMS)  # fmt: skip
    return InvoiceRecord(
        stripe_id=stripe_id, customer_id=_customer_of(obj, where),
        ref=_ref(obj, "number", where, required=False) or stripe_id, currency=currency,
        amount_minor=due, outstanding_minor=0 if status != "open" else remaining,
        issued_on=issued, due_on=due_on, status=status,
        summary=fields.text(obj.get("description"), 500), source_version=version,
    )  # fmt: skip


def event_moment(event: dict[str, Any]) -> datetime:
    return fields.unix_time(event, "created", "")


def now_version() -> int:
    return version_of(datetime.now(UTC))


def _customer_of(obj: dict[str, Any], where: str) -> str:
    value = obj.get("customer")
    if isinstance(value, dict):  # expanded
        return _ref(value, "id", f"{where}customer.")
    return _ref(obj, "customer", where)


def _ref(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = fields.ident(obj, key, where, required=required)
    if len(value) > MAX_REF:
        raise WebhookMalformed(f"{where}{key}")
    return value


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return cap(mask_card_numbers(clean_name(value[:400])), 200) or None


def _address(obj: dict[str, Any]) -> Address:
    country = fields.text(obj.get("country"), 2)
    return Address(
        line1=fields.text(obj.get("line1"), 200), line2=fields.text(obj.get("line2"), 200),
        city=fields.text(obj.get("city"), 100), postal_code=fields.text(obj.get("postal_code"), 20),
        country=country.upper() if country and len(country) == 2 and country.isalpha() else None,
    )  # fmt: skip
