"""The billing system's records as Ledgerline takes them in (pure: no I/O).

Each record is read from a JSON object (a PUT body, or one line of a batch) into an
immutable record (the kinds a batch carries by the thousand are named tuples: a frozen
dataclass took four times as long to make); whatever is wrong is a `RecordInvalid` naming
the field. Ids and money are strict integers within BIGINT (`true`, `"100"` and `100.0` are
refused), free text is screened (`pbx.free_text`), phone numbers become E.164 in the
business's region, references and other identifiers with hidden characters are refused
rather than changed.

Order: a customer, account or invoice carries its `source_version`, the billing system's
`version` (an integer) or its `updated_at` (an ISO 8601 time with its offset, taken as
microseconds since the epoch); one of the two, not both. An older version never overwrites a
newer one (`billing_bridge.ingest.service`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from billing_bridge.money import MINOR_UNIT_EXPONENTS
from billing_bridge.phones import to_e164
from pbx.db.models import ACCOUNT_STATUSES, INVOICE_STATUSES
from pbx.free_text import (
    cap,
    clean_name,
    clean_text,
    email_problem,
    has_hidden_characters,
    mask_card_numbers,
)
from pbx.instants import NotAnInstant, parse_instant

BIGINT_MAX = 2**63 - 1
# The largest amount or balance taken, in minor units (10 trillion in a currency of cents):
# far beyond any invoice, and far enough inside BIGINT that no sum of them overflows it.
MONEY_MAX = 10**15
REF_LENGTH = 64  # customers.customer_ref, accounts.account_ref, invoices.invoice_ref, reference
MAX_PHONES = 10
MAX_ACKNOWLEDGED = 1000
LINE_SUMMARY_LENGTH = 500
REASON_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,3})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_METHOD = re.compile(r"[a-z][a-z0-9_]{0,31}")
_EVENT_ID = re.compile(r"evt_[A-Za-z0-9_-]{1,36}")
_ADDRESS_FIELDS = {"line1": 200, "line2": 200, "city": 100, "postal_code": 20, "country": 2}


_VERSIONED = frozenset({"type", "ref", "version", "updated_at"})
CUSTOMER_FIELDS = _VERSIONED | {"name", "email", "phones", "language", "date_of_birth", "address"}
ACCOUNT_FIELDS = _VERSIONED | {"customer", "currency", "status", "vip", "balance",
                               "acknowledged_events"}  # fmt: skip
INVOICE_FIELDS = _VERSIONED | {"account", "currency", "amount", "outstanding", "issued", "due",
                               "status", "line_summary"}  # fmt: skip
PAYMENT_FIELDS = frozenset({"type", "reference", "account", "amount", "currency", "received_at",
                            "method"})  # fmt: skip
ADJUSTMENT_FIELDS = frozenset({"type", "reference", "account", "amount", "currency", "reason"})
_DIGIT = re.compile(r"[0-9]")
_SHORTEST_CARD = 13


class RecordInvalid(ValueError):
    """A record the billing system sent that cannot be taken in: which field, and why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class Address(NamedTuple):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerRecord(NamedTuple):
    ref: str
    name: str
    email: str | None
    phones: tuple[str, ...]  # E.164, each once, in the order given
    language: str | None
    date_of_birth: date | None
    address: Address
    source_version: int


class AccountRecord(NamedTuple):
    ref: str
    customer_ref: str
    currency: str
    status: str
    vip: bool
    balance_minor: int | None  # the balance the billing system states, if it states one
    acknowledged_events: tuple[str, ...]
    source_version: int


class InvoiceRecord(NamedTuple):
    ref: str
    account_ref: str
    currency: str | None  # None: the account's
    amount_minor: int
    outstanding_minor: int
    issued_on: date
    due_on: date
    status: str
    line_summary: str | None
    source_version: int


@dataclass(frozen=True, slots=True)
class ExternalPaymentRecord:
    """A payment the billing system received itself (a bank transfer): immutable."""

    reference: str
    account_ref: str
    amount_minor: int  # > 0: what the customer paid
    currency: str | None  # None: the account's
    received_at: datetime
    method: str


@dataclass(frozen=True, slots=True)
class AdjustmentRecord:
    """A change of balance the billing system made (positive: the customer owes more)."""

    reference: str
    account_ref: str
    amount_minor: int  # signed, never 0
    currency: str | None
    reason: str


Record = CustomerRecord | AccountRecord | InvoiceRecord | ExternalPaymentRecord | AdjustmentRecord


@dataclass(frozen=True, slots=True)
class Business:
    """What reading a record needs to know of the business it is for."""

    tenant_id: int
    region: str
    currency: str


class Fields:
    """A record's JSON object, read field by field; every read names the field it fails on.
    A field the record does not have is refused first (a misspelt field is not silently
    dropped)."""

    def __init__(self, data: Any, known: frozenset[str]) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):  # dict: no ABC check
            raise RecordInvalid("(record)", "must be a JSON object")
        if not known.issuperset(data):
            unknown = data.keys() - known
            raise RecordInvalid(min(str(key) for key in unknown)[:64],
                                "is not a field of this record")  # fmt: skip
        self._data = data
        self.raw = data.get  # what a field holds (None: not given)

    def text(self, name: str, limit: int, *, required: bool = False) -> str | None:
        value = self._data.get(name)
        if value is None:
            if required:
                raise RecordInvalid(name, "is required")
            return None
        if not isinstance(value, str):
            raise RecordInvalid(name, "must be a string")
        if len(value) > limit:
            raise RecordInvalid(name, f"at most {limit} characters")
        return value

    def ref(self, name: str) -> str:
        return reference(self.text(name, REF_LENGTH, required=True), name)  # type: ignore[arg-type]

    def integer(self, name: str, low: int, high: int = BIGINT_MAX, *,
                required: bool = True) -> int | None:  # fmt: skip
        value = self._data.get(name)
        if value is None and not required:
            return None
        if type(value) is not int:
            raise RecordInvalid(name, "must be an integer")
        if not low <= value <= high:
            raise RecordInvalid(name, f"must be between {low} and {high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if type(value) is not bool:
            raise RecordInvalid(name, "must be true or false")
        return value

    def day(self, name: str, *, required: bool = True) -> date | None:
        text = self.text(name, 10, required=required)
        if text is None:
            return None
        try:
            return date.fromisoformat(text) if len(text) == 10 else _no_date()
        except ValueError:
            raise RecordInvalid(name, "must be a date as YYYY-MM-DD") from None

    def moment(self, name: str, *, required: bool = True) -> datetime | None:
        text = self.text(name, 40, required=required)
        if text is None:
            return None
        try:
            return parse_instant(text)
        except NotAnInstant as exc:
            raise RecordInvalid(name, str(exc)) from None

    def one_of(self, name: str, values: tuple[str, ...], default: str) -> str:
        value = self.text(name, 32) or default
        if value not in values:
            raise RecordInvalid(name, "must be one of " + ", ".join(values))
        return value

    def currency(self, name: str = "currency") -> str | None:
        value = self.text(name, 3)
        if value is not None and value not in MINOR_UNIT_EXPONENTS:
            raise RecordInvalid(name, "must be an ISO 4217 code Ledgerline knows (e.g. EUR)")
        return value

    def source_version(self) -> int:
        version, updated = self.raw("version"), self.raw("updated_at")
        if version is not None and updated is not None:
            raise RecordInvalid("version", "give version or updated_at, not both")
        if version is not None:
            return self.integer("version", 0)  # type: ignore[return-value]
        if updated is None:
            raise RecordInvalid("version", "version or updated_at is required")
        moment = self.moment("updated_at")
        assert moment is not None
        delta = moment - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        if micros < 0:
            raise RecordInvalid("updated_at", "must be after 1970")
        return micros


def reference(value: str, name: str) -> str:
    """A billing system's reference: 1-64 characters, no hidden ones, no edge spaces."""
    if not value or len(value) > REF_LENGTH or value != value.strip():
        raise RecordInvalid(name, "must be 1-64 characters without leading or trailing spaces")
    if not _plain(value) and has_hidden_characters(value):
        raise RecordInvalid(name, "must not contain control or invisible characters")
    return value


def _plain(text: str) -> bool:
    """Printable ASCII: nothing for the screens of `pbx.free_text` to drop (the common case,
    checked in C before they look at each character)."""
    return text.isascii() and text.isprintable()


def _screened_name(text: str) -> str:
    """`clean_name`: in plain ASCII text the only thing to change is runs of spaces (there is
    no control, invisible character or other white space, and NFC leaves it as it is)."""
    return " ".join(text.split()) if _plain(text) else clean_name(text)


def _screened_text(text: str) -> str:
    """`clean_text`: plain ASCII text only needs its card numbers masked (if it has digits
    enough for one, counted in C) and its ends trimmed."""
    if not _plain(text):
        return clean_text(text)
    if len(_DIGIT.findall(text)) < _SHORTEST_CARD:
        return text.strip()
    return mask_card_numbers(text).strip()


def read_customer(data: Any, business: Business, *, ref: str | None = None) -> CustomerRecord:
    """A customer record; `ref` from the path (PUT), else the record's own `ref` field."""
    fields = Fields(data, CUSTOMER_FIELDS)
    ref = _own_ref(fields, ref)
    name = _screened_name(fields.text("name", 400, required=True) or "")
    if not name:
        raise RecordInvalid("name", "must not be empty")
    email = fields.text("email", 254)
    if email is not None and email_problem(email) is not None:
        raise RecordInvalid("email", "must be an email address")
    language = fields.text("language", 8)
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise RecordInvalid("language", "must be an ISO 639-1 code (e.g. he, en, pt-BR)")
    born = fields.day("date_of_birth", required=False)
    return CustomerRecord(
        ref, cap(name, 200), email, _phones(fields.raw("phones"), business.region), language,
        born, _address(fields.raw("address")), _finish(fields),
    )  # fmt: skip


def read_account(data: Any, business: Business, *, ref: str | None = None) -> AccountRecord:
    fields = Fields(data, ACCOUNT_FIELDS)
    ref = _own_ref(fields, ref)
    customer = fields.ref("customer")
    currency = fields.currency() or business.currency
    status = fields.one_of("status", ACCOUNT_STATUSES, "active")
    vip = fields.boolean("vip", False)
    balance = fields.integer("balance", -MONEY_MAX, MONEY_MAX, required=False)
    acknowledged = fields.raw("acknowledged_events")
    if acknowledged is not None and balance is None:
        raise RecordInvalid("acknowledged_events", "only with a balance")
    events = _event_ids(acknowledged)
    return AccountRecord(ref, customer, currency, status, vip, balance, events, _finish(fields))


def read_invoice(data: Any, business: Business, *, ref: str | None = None) -> InvoiceRecord:
    fields = Fields(data, INVOICE_FIELDS)
    ref = _own_ref(fields, ref)
    account = fields.ref("account")
    currency = fields.currency()
    amount = fields.integer("amount", 0, MONEY_MAX)
    assert amount is not None
    status = fields.one_of("status", INVOICE_STATUSES, "open")
    outstanding = fields.integer("outstanding", 0, amount, required=False)
    if outstanding is None:
        outstanding = amount if status == "open" else 0
    issued, due = fields.day("issued"), fields.day("due")
    assert issued is not None and due is not None
    if due < issued:
        raise RecordInvalid("due", "must not be before issued")
    summary = fields.text("line_summary", 4 * LINE_SUMMARY_LENGTH)
    if summary is not None:
        summary = cap(_screened_text(summary), LINE_SUMMARY_LENGTH) or None
    version = _finish(fields)
    return InvoiceRecord(ref, account, currency, amount, outstanding, issued, due, status,
                         summary, version)  # fmt: skip


def read_external_payment(data: Any, business: Business) -> ExternalPaymentRecord:
    fields = Fields(data, PAYMENT_FIELDS)
    reference_ = fields.ref("reference")
    account = fields.ref("account")
    amount = fields.integer("amount", 1, MONEY_MAX)
    currency = fields.currency()
    received = fields.moment("received_at")
    method = fields.text("method", 32) or "bank_transfer"
    if not _METHOD.fullmatch(method):
        raise RecordInvalid("method", "must be a lower-case word like bank_transfer")
    assert amount is not None and received is not None
    return ExternalPaymentRecord(reference_, account, amount, currency, received, method)


def read_adjustment(data: Any, business: Business) -> AdjustmentRecord:
    fields = Fields(data, ADJUSTMENT_FIELDS)
    reference_ = fields.ref("reference")
    account = fields.ref("account")
    amount = fields.integer("amount", -MONEY_MAX, MONEY_MAX)
    if amount == 0:
        raise RecordInvalid("amount", "must not be 0")
    currency = fields.currency()
    reason = _screened_text(fields.text("reason", 4 * REASON_LENGTH, required=True) or "")
    if not reason:
        raise RecordInvalid("reason", "must not be empty")
    assert amount is not None
    return AdjustmentRecord(reference_, account, amount, currency, cap(reason, REASON_LENGTH))


# A batch line's `type` and how its record is read.
READERS = {
    "customer": read_customer,
    "account": read_account,
    "invoice": read_invoice,
    "external_payment": read_external_payment,
    "adjustment": read_adjustment,
}


def ref_of(record: Record) -> str:
    if isinstance(record, ExternalPaymentRecord | AdjustmentRecord):
        return record.reference
    return record.ref


def _own_ref(fields: Fields, ref: str | None) -> str:
    if ref is None:
        return fields.ref("ref")
    given = fields.raw("ref")
    if given is not None and given != ref:
        raise RecordInvalid("ref", "differs from the reference in the path")
    return reference(ref, "ref")


def _finish(fields: Fields) -> int:
    return fields.source_version()


def _phones(value: Any, region: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordInvalid("phones", "must be a list of phone numbers")
    if len(value) > MAX_PHONES:
        raise RecordInvalid("phones", f"at most {MAX_PHONES} numbers")
    numbers: dict[str, None] = {}
    for index, number in enumerate(value):
        if not isinstance(number, str) or len(number) > 40:
            raise RecordInvalid(f"phones.{index}", "must be a phone number as text")
        e164 = to_e164(number, region)
        if e164 is None:
            raise RecordInvalid(f"phones.{index}", "is not a valid phone number")
        numbers[e164] = None
    return tuple(numbers)


def _address(value: Any) -> Address:
    if value is None:
        return Address()
    if not isinstance(value, Mapping):
        raise RecordInvalid("address", "must be an object")
    unknown = sorted(str(key) for key in value.keys() - _ADDRESS_FIELDS.keys())
    if unknown:
        raise RecordInvalid(f"address.{unknown[0][:32]}", "is not a field of an address")
    parts: dict[str, str | None] = {}
    for name, limit in _ADDRESS_FIELDS.items():
        text = value.get(name)
        if text is not None and not isinstance(text, str):
            raise RecordInvalid(f"address.{name}", "must be a string")
        cleaned = _screened_name(text) if text is not None else ""
        if len(cleaned) > limit:
            raise RecordInvalid(f"address.{name}", f"at most {limit} characters")
        parts[name] = cleaned or None
    country = parts["country"]
    if country is not None and not _COUNTRY.fullmatch(country):
        raise RecordInvalid("address.country", "must be an ISO 3166 code (e.g. GB)")
    return Address(**parts)


def _event_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ACKNOWLEDGED:
        raise RecordInvalid("acknowledged_events",
                            f"must be a list of at most {MAX_ACKNOWLEDGED} event ids")  # fmt: skip
    for index, event_id in enumerate(value):
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise RecordInvalid(f"acknowledged_events.{index}", "must be an event id (evt_...)")
    return tuple(dict.fromkeys(value))


def _no_date() -> date:
    raise ValueError("not YYYY-MM-DD")
