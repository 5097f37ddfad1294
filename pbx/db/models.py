"""The data model. Every row a business owns carries its tenant (see `TenantOwned`).

Money is integer minor units beside an ISO 4217 code; phone numbers are E.164; times are UTC.
A positive account balance is what the customer owes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from pbx.db.types import BigIntId, UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACCOUNT_STATUSES = ("active", "overdue", "suspended", "closed")
INVOICE_STATUSES = ("open", "paid", "void")
# Which moves between them are allowed, and what each does to the balance:
# `billing_bridge.payments.transitions`.
PAYMENT_STATUSES = (
    "pending", "succeeded", "failed", "cancelled", "partially_refunded", "refunded",
    "charged_back",
)  # fmt: skip
# What moved an account's balance (`AccountEntry.kind`).
# The first six are Ledgerline's own (pending in billing until the billing system acknowledges
# their event); the last three come from the billing system (`billing_bridge.ingest`).
ENTRY_KINDS = (
    "payment", "payment_reversed", "refund", "chargeback", "chargeback_reversed", "credit",
    "statement", "external_payment", "adjustment",
)  # fmt: skip
MANDATE_STATUSES = ("pending", "submitted", "active", "failed", "cancelled", "expired")
CREDIT_STATUSES = ("granted", "pending_approval", "rejected")
# The stretch of time, in the tenant's time zone, over which credit limits add up.
CREDIT_PERIODS = ("day", "week", "month")
ROLES = ("agent", "supervisor", "admin")
MATCHES = ("unique", "ambiguous", "none")
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "rrmemory", "linear", "random")
OVERFLOW_KINDS = ("queue", "voicemail", "callback")
CLOSED_KINDS = ("queue", "voicemail", "hangup")
VERIFICATIONS = ("none", "pin", "date_of_birth")
CALL_OUTCOMES = (
    "answered", "abandoned", "overflowed", "voicemail", "callback", "closed", "failed",
)  # fmt: skip
# A pause is not a status: it is an interval in `Recording.pauses` (the last one still open).
RECORDING_STATUSES = ("recording", "finishing", "pending", "stored", "failed", "purged")
RECORDING_STORAGES = ("s3", "local")
RECORDING_POLICIES = ("all", "none", "on_demand")
# The same tuple as `recordings.jobs.STEPS`, the list the pipeline reads; that module imports
# this one, so it cannot be imported here. tests/recordings/test_schema.py keeps them equal.
RECORDING_JOB_STEPS = (
    "fetch", "transcode", "upload", "verify", "index", "publish", "delete_source",
    "done", "failed",
)  # fmt: skip


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {datetime: UtcDateTime, dict[str, Any]: JSON}


def _tenant_id(*, index: bool = True, foreign_key: bool = True) -> Mapped[int]:
    """The owning business's id; without `foreign_key` where the table's key to its parent
    carries the business (`Invoice`: the parent's own key to tenants then holds it)."""
    if not foreign_key:
        return mapped_column(BigIntId, index=index, nullable=False)
    return mapped_column(
        BigIntId, ForeignKey("tenants.id", ondelete="CASCADE"), index=index, nullable=False
    )


class TenantOwned:
    """Mixin for rows a tenant owns; `pbx.db.tenancy` scopes every query on them."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return _tenant_id()


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("recording_retention_days > 0", name="recording_retention_days_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # What callers hear ("he", "lt", "en": the channel's language, `sounds/<language>/`);
    # None: "en". A route may say otherwise (`InboundRoute.language`).
    language: Mapped[str | None] = mapped_column(String(8))
    # Days a stored recording is kept (see `recordings.retention`); None keeps them for ever.
    recording_retention_days: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Account actions in a call (a payment to a stored method, mandate changes, credits)
    # wait until the caller is verified (IVR PIN, or the agent's recorded questions).
    money_needs_verification: Mapped[bool] = mapped_column(default=False)
    # The most each role may grant without approval in one `credit_period`, in total, in
    # minor units of the tenant's currency: {"agent": 2000, "supervisor": 20000}; a role
    # missing here needs approval for any credit (admins never do).
    credit_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # One of CREDIT_PERIODS (not a CHECK: that would copy `tenants` on SQLite); the API
    # validates it and `billing_bridge.credits` reads anything else as the longest.
    credit_period: Mapped[str] = mapped_column(String(8), default="day")
    # The most credits may take off one account in a period, in total, whoever gave or
    # approved them, before the next one waits for approval; None: no total per account
    # (the agents' totals still hold).
    credit_account_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    # Whether a credit may take a balance below zero (the customer in credit); if not, such
    # a credit is refused, and so is its approval.
    credits_below_zero: Mapped[bool] = mapped_column(default=False)
    # Disabled by the platform operator (`pbx.platform`): its numbers resolve to no business
    # (the dialplan's fallback) and its users cannot sign in; nothing of it is deleted.
    disabled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Reconciliation flags what Ledgerline collected, refunded or credited that the billing
    # system has not acknowledged after this many hours.
    billing_ack_hours: Mapped[int] = mapped_column(default=48, server_default=text("48"))
    # Promises to pay (`billing_bridge.collections`): the latest date a promise may name, in
    # days from today, and the least share (percent) of the overdue amount it must cover;
    # None: the defaults (30 days, 20%).
    promise_max_days: Mapped[int | None]
    promise_min_share_pct: Mapped[int | None]


class InboundNumber(TenantOwned, Base):
    """A DID: the number a caller dialed tells which business they called."""

    __tablename__ = "inbound_numbers"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")


class Customer(TenantOwned, Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "customer_ref"),)

    # Every index of a billing record below leads with tenant_id (its unique reference, the
    # business's numbers): an index of tenant_id alone would only cost each row written by
    # the billing system's sync one more entry.
    tenant_id: Mapped[int] = _tenant_id(index=False)
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    last_contact_at: Mapped[datetime | None]
    # When the customer opted out of reminders (a message's link or an SMS STOP reply,
    # `billing_bridge.reminders`); None: they get them.
    reminders_opted_out_at: Mapped[datetime | None]
    # When the customer asked not to be called about money (`billing_bridge.worklist`);
    # None: collection calls may reach them.
    do_not_call_at: Mapped[datetime | None]
    # ISO 639-1 ("he", "lt", "en"); None: the business's.
    language: Mapped[str | None] = mapped_column(String(8))
    # The payer's postal address (Bacs by phone needs it; a keypad cannot give it).
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    address_city: Mapped[str | None] = mapped_column(String(100))
    address_postal_code: Mapped[str | None] = mapped_column(String(20))
    address_country: Mapped[str | None] = mapped_column(String(2))
    # The billing system's version of this record (its version number, or its updated_at in
    # microseconds since the epoch): an upsert with an older one changes nothing.
    source_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    accounts: Mapped[list[Account]] = relationship(back_populates="customer")


class CustomerPhone(TenantOwned, Base):
    """One of a customer's numbers; a household may share one number between customers."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "e164"),
        Index("ix_customer_phones_tenant_number", "tenant_id", "e164"),
    )

    # Read by tenant_id through ix_customer_phones_tenant_number, by customer_id through the
    # unique (customer_id, e164): no index of either alone (see Customer).
    tenant_id: Mapped[int] = _tenant_id(index=False)
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE")
    )
    e164: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(32), default="")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Account(TenantOwned, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_ref"),
        _one_of("status", ACCOUNT_STATUSES),
        # What an invoice's key to its account names: the account and its business.
        Index("uq_accounts_tenant_id_id", "tenant_id", "id", unique=True),
    )

    tenant_id: Mapped[int] = _tenant_id(index=False)  # the unique reference leads with it
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    account_ref: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    source_version: Mapped[int | None] = mapped_column(BigInteger)  # as on customers
    # The balance the billing system last stated, and when; `balance_minor` is it adjusted by
    # what Ledgerline took or granted since that billing has not acknowledged
    # (`billing_bridge.balances`). None: never stated (imported or demo data).
    reported_balance_minor: Mapped[int | None] = mapped_column(BigInteger)
    reported_at: Mapped[datetime | None]
    # Collections held (a dispute opened, with why): no reminder goes out while it is set.
    collections_hold: Mapped[str | None] = mapped_column(String(200))
    collections_hold_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="accounts")


class ProviderCustomer(TenantOwned, Base):
    """A customer's id at a payment provider (Stripe, GoCardless), made once and reused by
    every later payment or mandate."""

    __tablename__ = "provider_customers"
    __table_args__ = (
        UniqueConstraint("customer_id", "provider"),
        UniqueConstraint("tenant_id", "provider", "provider_customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(32))
    provider_customer_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invoice(TenantOwned, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_ref"),
        _one_of("status", INVOICE_STATUSES),
        Index("ix_invoices_account_open", "account_id", "status", "due_on"),
        # An account of the invoice's own business: one check a row written, the business's
        # own existence held by the account's key to tenants (migration 0029).
        ForeignKeyConstraint(
            ["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"
        ),
    )

    # The unique reference leads with it; the key to the account carries it.
    tenant_id: Mapped[int] = _tenant_id(index=False, foreign_key=False)
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigIntId)
    invoice_ref: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    line_summary: Mapped[str | None] = mapped_column(String(500))
    source_version: Mapped[int | None] = mapped_column(BigInteger)  # as on customers
    # The billing system's own invoice when it is a provider's (a Stripe invoice, "in_..."):
    # a payment for it pays that invoice there.
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class Payment(TenantOwned, Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        _one_of("status", PAYMENT_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Refunded so far (a partial refund leaves the payment partially_refunded).
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taken in a call (by phone); what the provider says of the card: never more than this.
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    # When the provider's event that set `status` happened: an older event never undoes it.
    status_at: Mapped[datetime | None]
    # The invoice it pays, if one was named (a Stripe invoice is then paid at Stripe).
    # (No foreign key: SQLite cannot add one to this table in place; invoices are voided,
    # never deleted.)
    invoice_id: Mapped[int | None] = mapped_column(BigInteger)


class AccountEntry(TenantOwned, Base):
    """One change of an account's balance and its cause, written in the same transaction as
    the balance: the entries of an account add up to how its balance moved. Rows are only
    ever added; `amount_minor` is signed as the balance is (positive: the customer owes more).
    """

    __tablename__ = "account_entries"
    __table_args__ = (
        _one_of("kind", ENTRY_KINDS),
        Index("ix_account_entries_account_id", "account_id", "id"),
        # Reconciliation reads one business's entries of one day.
        Index("ix_account_entries_tenant_created", "tenant_id", "created_at"),
        UniqueConstraint("tenant_id", "kind", "reference"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(24))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="SET NULL"), index=True
    )
    credit_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("credits.id", ondelete="SET NULL"), index=True
    )
    event_id: Mapped[str | None] = mapped_column(String(128))  # the provider event, if one
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The billing system's reference of an external payment or adjustment: one entry each.
    reference: Mapped[str | None] = mapped_column(String(64))
    # What the billing system said of it (an external payment's received_at and method, an
    # adjustment's reason): the same reference sent again must say the same.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PaymentReview(TenantOwned, Base):
    """A provider event that would move a payment in a way the transition table does not
    allow on its own (succeeded to failed, a late success of a cancelled payment): held, not
    applied, until a supervisor applies or dismisses it."""

    __tablename__ = "payment_reviews"
    __table_args__ = (_one_of("decision", ("applied", "dismissed")),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )


class Mandate(TenantOwned, Base):
    __tablename__ = "mandates"
    __table_args__ = (_one_of("status", MANDATE_STATUSES),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    scheme: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    status_at: Mapped[datetime | None]  # as on payments


class User(TenantOwned, Base):
    """Someone who signs in: an agent, a supervisor or an admin."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"), _one_of("role", ROLES))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str | None] = mapped_column(String(128))
    # Where the user is told what needs them (an admin: a webhook receiver disabled).
    email: Mapped[str | None] = mapped_column(String(254))
    # Skill name -> level, matched against a queue's `required_skills`.
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credit_limit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Credit(TenantOwned, Base):
    __tablename__ = "credits"
    __table_args__ = (
        _one_of("status", CREDIT_STATUSES),
        # An agent's total in the period (`billing_bridge.credits`).
        Index("ix_credits_granted_by_created", "granted_by_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason_code: Mapped[str] = mapped_column(String(32))
    granted_by_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="granted")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]  # approved or rejected


PROMISE_METHODS = ("card_on_file", "mandate", "pay_link", "bank_transfer")
PROMISE_STATUSES = ("open", "kept", "broken", "cancelled")
PLAN_METHODS = ("mandate", "card_on_file", "pay_link")
PLAN_FREQUENCIES = ("weekly", "fortnightly", "monthly")
PLAN_STATUSES = ("active", "completed", "cancelled")
INSTALMENT_STATUSES = ("pending", "kept", "broken", "cancelled")


class Promise(TenantOwned, Base):
    """A promise to pay an amount by a date (`billing_bridge.collections`): open until the
    payments that arrive keep it, its date passes unpaid (broken) or someone cancels it.
    `paid_minor`: paid towards it in time; `late_paid_minor`: paid after its date."""

    __tablename__ = "promises"
    __table_args__ = (
        _one_of("method", PROMISE_METHODS),
        _one_of("status", PROMISE_STATUSES),
        # At most one open promise an account.
        Index("uq_promises_open_account", "account_id", unique=True,
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        Index("ix_promises_tenant_status_due", "tenant_id", "status", "due_on"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    overdue_minor: Mapped[int] = mapped_column(BigInteger)  # what was overdue when promised
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    late_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class PaymentPlan(TenantOwned, Base):
    """The overdue amount split into instalments, with the customer's consent (who took it,
    when, in which call and recording). Active until paid in full or cancelled."""

    __tablename__ = "payment_plans"
    __table_args__ = (
        _one_of("method", PLAN_METHODS),
        _one_of("frequency", PLAN_FREQUENCIES),
        _one_of("status", PLAN_STATUSES),
        Index("uq_payment_plans_active_account", "account_id", unique=True,
              postgresql_where=text("status = 'active'"),
              sqlite_where=text("status = 'active'")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    instalment_count: Mapped[int]
    frequency: Mapped[str] = mapped_column(String(16))
    first_due_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))
    mandate_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("mandates.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    consent_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    consent_at: Mapped[datetime]
    consent_call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    consent_recording_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("recordings.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class PlanInstalment(TenantOwned, Base):
    """One instalment of a plan: pending until paid in full (kept), unpaid at the end of its
    date in the business's time zone (broken), or cancelled with its plan."""

    __tablename__ = "plan_instalments"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        _one_of("status", INSTALMENT_STATUSES),
        Index("ix_plan_instalments_tenant_status_due", "tenant_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("payment_plans.id", ondelete="CASCADE")
    )
    number: Mapped[int]  # 1, 2, ...
    due_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None]


class PromiseSettlement(TenantOwned, Base):
    """Money of one payment applied to a promise or an instalment, as it arrived: `late`
    when paid after the date (or after the promise or instalment was broken)."""

    __tablename__ = "promise_settlements"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    promise_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("promises.id", ondelete="CASCADE"), index=True
    )
    instalment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("plan_instalments.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("account_entries.id", ondelete="SET NULL")
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Queue(TenantOwned, Base):
    """An ACD queue: `pbx.acd.queues.QueueConfig` as the admin API stores it."""

    __tablename__ = "queues"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        _one_of("strategy", STRATEGIES),
        _one_of("overflow_kind", OVERFLOW_KINDS),
        _one_of("recording_policy", RECORDING_POLICIES),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    strategy: Mapped[str] = mapped_column(String(16), default="ringall")
    ring_timeout_seconds: Mapped[int] = mapped_column(default=15)
    retry_seconds: Mapped[int] = mapped_column(default=0)
    wrapup_seconds: Mapped[int] = mapped_column(default=0)
    max_wait_seconds: Mapped[int | None]
    overflow_kind: Mapped[str | None] = mapped_column(String(16))
    overflow_target: Mapped[str] = mapped_column(String(64), default="")
    announce_every_seconds: Mapped[int | None]
    required_skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    autopause: Mapped[bool] = mapped_column(Boolean, default=True)
    music_class: Mapped[str] = mapped_column(String(64), default="ledgerline")
    # None: as the caller's inbound route says (`recordings.policy.effective_policy`).
    recording_policy: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A callback whose customer does not answer is retried by this rule (None: 3 attempts,
    # 600 seconds apart, 08:00-21:00 on the customer's clock): `pbx.acd.callback_rule`.
    callback_attempts: Mapped[int | None]
    callback_spacing_seconds: Mapped[int | None]
    callback_window_start: Mapped[str | None] = mapped_column(String(5))  # HH:MM
    callback_window_end: Mapped[str | None] = mapped_column(String(5))
    # The wall board turns this queue's tile amber / red past these (None: derived as
    # `pbx.reports.board.thresholds_for` says).
    board_wait_amber_seconds: Mapped[int | None]
    board_wait_red_seconds: Mapped[int | None]
    board_service_level_amber_pct: Mapped[int | None]
    board_service_level_red_pct: Mapped[int | None]


class QueueMember(TenantOwned, Base):
    """An agent in a queue; a lower penalty is rung first, `position` orders linear/rrmemory."""

    __tablename__ = "queue_members"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    queue_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("queues.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    penalty: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)


class BusinessHours(TenantOwned, Base):
    """Opening times in a local time zone.

    `weekly` lists `{"days": [0..6 Monday first], "open": "08:00", "close": "18:00"}`;
    `closed_dates` lists ISO dates (holidays) when the business is closed all day.
    """

    __tablename__ = "business_hours"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    weekly: Mapped[list[Any]] = mapped_column(JSON, default=list)
    closed_dates: Mapped[list[Any]] = mapped_column(JSON, default=list)


class InboundRoute(TenantOwned, Base):
    """Where a call to one DID goes: its queue when open, the closed target otherwise."""

    __tablename__ = "inbound_routes"
    __table_args__ = (
        _one_of("closed_kind", CLOSED_KINDS),
        _one_of("verification", VERIFICATIONS),
        _one_of("recording_policy", RECORDING_POLICIES),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    inbound_number_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("inbound_numbers.id", ondelete="CASCADE"), unique=True
    )
    queue_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("queues.id"))
    # Overdue accounts go here instead (collections); None keeps them in `queue_id`.
    collections_queue_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("queues.id"))
    business_hours_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("business_hours.id", ondelete="SET NULL")
    )
    closed_kind: Mapped[str] = mapped_column(String(16), default="hangup")
    # A queue name or a voicemail box, by `closed_kind`.
    closed_target: Mapped[str] = mapped_column(String(64), default="")
    verification: Mapped[str] = mapped_column(String(16), default="none")
    verification_attempts: Mapped[int] = mapped_column(default=3)
    # An IVR menu before the queue: {"prompt": "ledgerline-menu", "options": {"1": "billing"}}
    # (a digit to a queue name); empty: straight to the queue.
    menu: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "all", "none" or "on_demand"; a queue with a policy of its own overrides it.
    recording_policy: Mapped[str] = mapped_column(String(16), default="all")
    # The prompt telling the caller the call is recorded; None: the default prompt.
    recording_announcement: Mapped[str | None] = mapped_column(String(64))
    # The language callers of this number hear; None: the business's (`Tenant.language`).
    language: Mapped[str | None] = mapped_column(String(8))
    # Self-service before the queue (`pbx.callflow.self_service_config`): which of balance,
    # card, mandate the menu offers and how an unknown caller identifies; None: no menu.
    self_service: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserSession(Base):
    """A signed-in browser or API client. Only the token's SHA-256 is kept: a leaked
    database cannot be replayed as sessions. Looked up before the tenant is known, so it is
    not tenant-scoped; it carries the tenant for everything that follows."""

    __tablename__ = "user_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class UserToken(Base):
    """A one-time link's token (an invitation, a password reset): only its SHA-256 is kept.
    Redeemed before anyone is signed in, so, like a session, it is not tenant-scoped and
    carries its tenant. Used once (`used_at`), then kept as the record of it."""

    __tablename__ = "user_tokens"
    __table_args__ = (_one_of("purpose", ("invite", "reset")),)

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("tenants.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PlatformToken(Base):
    """A platform operator's API token (`/api/v1/platform`): only its SHA-256 is kept. It
    manages businesses and reaches nothing inside one. Revoked, never deleted: the rows are
    the record of who made each token and who stopped it, and when."""

    __tablename__ = "platform_tokens"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class ApiKey(TenantOwned, Base):
    """A business's API key for machine clients (a billing system): only its SHA-256 is kept,
    with the first characters (`prefix`) to tell keys apart in a list. `scopes` is the
    space-separated list of what it may do. Revoked, never deleted."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AcdSnapshot(Base):
    """The ACD's state (waiting calls, agent states) and the call flow's channel map, saved
    after every change so a restarted process carries on. One row per Asterisk node."""

    __tablename__ = "acd_snapshots"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The fencing token of the ARI lease its writer held (`pbx.callflow.ownership`): a write
    # with an older token is refused, so a stale owner cannot overwrite its successor's.
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class Call(TenantOwned, Base):
    """The call log: one row a call, opened when it arrives."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel_id"),
        _one_of("match", MATCHES),
        _one_of("outcome", CALL_OUTCOMES),
        Index("ix_calls_customer_arrived", "customer_id", "arrived_at"),
        Index("ix_calls_tenant_arrived", "tenant_id", "arrived_at"),
    )

    # ix_calls_tenant_arrived leads with tenant_id: an index of tenant_id alone would only
    # cost every call's INSERT one more entry.
    tenant_id: Mapped[int] = _tenant_id(index=False)
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(128))
    # "inbound", or "outbound" for click-to-call (then caller_number is the number called).
    direction: Mapped[str] = mapped_column(String(8), default="inbound")
    caller_number: Mapped[str | None] = mapped_column(String(16))
    caller_raw: Mapped[str] = mapped_column(String(80))
    dialed_number: Mapped[str | None] = mapped_column(String(16))
    match: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    queue_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("queues.id"))
    agent_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"))
    priority: Mapped[int] = mapped_column(default=0)
    # How identity was checked in the IVR: None (not asked), "pin", "date_of_birth",
    # or "failed" after the allowed attempts.
    verified: Mapped[str | None] = mapped_column(String(16))
    arrived_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Sent on by its queue's overflow rule: "queue" (to `queue_id`, from the queue
    # `overflow_from_queue_id`: the last such move), "voicemail" or "callback"; None: not.
    overflow: Mapped[str | None] = mapped_column(String(16))
    overflow_from_queue_id: Mapped[int | None] = mapped_column(BigIntId)
    # Seconds from queued to answered (or to abandoned), and from answered to ended.
    wait_seconds: Mapped[int | None]
    talk_seconds: Mapped[int | None]
    disposition: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    # What the caller did in the IVR's self-service menu, in order ("identified", "balance",
    # "paid", "payment_failed", "mandate", "agent", ...); None: not offered.
    self_service: Mapped[list[Any] | None] = mapped_column(JSON)
    # The caller hung up after a self-service action without asking for an agent.
    self_service_resolved: Mapped[bool | None] = mapped_column(Boolean)
    # Whether the caller heard that the call is recorded: "played" (to its end), "failed"
    # (Asterisk could not play it, or the caller hung up during it), "none" (not recorded
    # at arrival, no notice); None for calls before migration 0018.
    recording_notice: Mapped[str | None] = mapped_column(String(8))
    # A callback's attempt at calling the customer: the call that asked for it, and which
    # attempt this is (1, 2, ...). On the asking call, how its callback ended:
    # "pending", "answered", "failed" (every attempt unanswered) or "cancelled".
    callback_of: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("calls.id"), index=True)
    callback_attempt: Mapped[int | None]
    callback_state: Mapped[str | None] = mapped_column(String(16))


class IvrIdentityFailure(TenantOwned, Base):
    """A wrong PIN or date of birth keyed for an account in the IVR: counted per account
    over a window, so guessing across many calls is stopped too (`billing_bridge.ivr_identity`)."""

    __tablename__ = "ivr_identity_failures"
    __table_args__ = (Index("ix_ivr_identity_failures_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Recording(TenantOwned, Base):
    """A call's recording, from the moment Asterisk starts it until retention purges it.

    `status`: recording -> finishing (stopped, Asterisk closing the file) -> pending (queued
    for the pipeline, `RecordingJob`) -> stored, or failed; stored -> purged. `pauses` lists
    `{"from": iso, "to": iso | None, "reason": str, "by": user id | None}` (see
    `recordings.pauses`); a recording is paused while its last interval is open.
    """

    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "asterisk_name"),
        _one_of("status", RECORDING_STATUSES),
        _one_of("storage", RECORDING_STORAGES),
        # The purge scans one tenant's unpurged recordings by expiry.
        Index(
            "ix_recordings_purge",
            "tenant_id",
            "expires_at",
            postgresql_where=text("purged_at IS NULL"),
            sqlite_where=text("purged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    call_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    # The live recording's name in Asterisk (ARI), until the pipeline deletes Asterisk's copy.
    asterisk_name: Mapped[str | None] = mapped_column(String(128))
    # The Asterisk node that made it (`ari.node`): the pipeline fetches the file from there,
    # whichever process works the job. None: made before rows kept it (the only node).
    node: Mapped[str | None] = mapped_column(String(64))
    storage: Mapped[str | None] = mapped_column(String(8))
    # Kept after a purge: the record of what was deleted.
    object_key: Mapped[str | None] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="recording")
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    stored_at: Mapped[datetime | None]
    # stored_at plus the tenant's retention; None keeps the recording (no retention set).
    expires_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordingJob(TenantOwned, Base):
    """The pipeline's durable queue: one row a recording, at the step it has reached
    (`recordings.jobs`). Worked across tenants by system sessions, under a lease."""

    __tablename__ = "recording_jobs"
    __table_args__ = (
        _one_of("step", RECORDING_JOB_STEPS),
        Index("ix_recording_jobs_step_due", "step", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("recordings.id", ondelete="CASCADE"), unique=True
    )
    step: Mapped[str] = mapped_column(String(16), default="fetch")
    attempts: Mapped[int] = mapped_column(default=0)  # failed attempts at the current step
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # What one step hands the next (spool path, checksum, key): the pipeline's to define.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class LegalHold(TenantOwned, Base):
    """Keeps a call's recordings, or all of a customer's, from deletion while it is live
    (`released_at` None). The call and customer keys have no ON DELETE: deleting a call or
    customer that was ever under a hold is refused, so a hold cannot be dodged that way."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint("(call_id IS NULL) <> (customer_id IS NULL)", name="one_target"),
        CheckConstraint("length(reason) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    call_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("calls.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )


class AuditEntry(TenantOwned, Base):
    """Who did what to money or configuration, and when. Rows are only ever added."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_time", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """Every provider event received once: a replay or duplicate (same provider and event
    id) is refused by the unique key. Providers are per deployment, so not tenant-owned."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(128))
    status: Mapped[str | None] = mapped_column(String(24))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # applied, stale (older than what we have), unknown_type, not_found
    outcome: Mapped[str] = mapped_column(String(16))


class OutboxMessage(TenantOwned, Base):
    """An SMS or email to send (pay links, mandate confirmations), sent by the configured
    sender and kept with its outcome."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        _one_of("channel", ("sms", "email")),
        _one_of("status", ("queued", "sent", "failed")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    payment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="SET NULL")
    )
    mandate_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("mandates.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


COLLECTION_ATTEMPT_STATUSES = ("pending", "submitted", "succeeded", "failed")


class CollectionRun(Base):
    """One pass of recurring collection (`billing_bridge.collection`). A run crosses tenants,
    so it is not tenant-owned; what it did for each business is in that business's audit log."""

    __tablename__ = "collection_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_on: Mapped[date | None] = mapped_column(Date)  # None: each business's own today
    node: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]  # None: still running, or killed
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CollectionAttempt(TenantOwned, Base):
    """One charge of an invoice against a mandate, written before the provider is called.

    The idempotency key is the invoice and the attempt number, so a run that dies after the
    call sends the same key again and the provider charges once. The payment row with the
    same key is the provider's answer; `status` follows it (pending: no answer kept yet).
    """

    __tablename__ = "collection_attempts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        UniqueConstraint("invoice_id", "attempt"),
        CheckConstraint("attempt > 0", name="attempt_positive"),
        _one_of("status", COLLECTION_ATTEMPT_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("collection_runs.id", ondelete="SET NULL")
    )
    invoice_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("invoices.id", ondelete="CASCADE"))
    mandate_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("mandates.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(128))
    # What was asked of the provider: a resend must repeat it exactly, whatever the invoice
    # says by then (a provider refuses a key reused with other parameters).
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    payment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="SET NULL")
    )
    failure_code: Mapped[str | None] = mapped_column(String(64))
    # When a failed attempt is tried again; None on a failed attempt: never (final or last).
    next_retry_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Collection looks up each due invoice's mandates by account; without this every batch would
# scan the mandates table. Declared here, not in `Mandate`, so that class stays as it was.
Index("ix_mandates_account_id_status", Mandate.account_id, Mandate.status)


class IdempotencyKey(TenantOwned, Base):
    """A machine client's request under an `Idempotency-Key`: the same key again gets the same
    answer (status and body) without doing the work twice; the same key with another request
    is refused. `status_code` None: the first request is still being worked."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    api_key_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    request_method: Mapped[str] = mapped_column(String(8))
    request_path: Mapped[str] = mapped_column(String(300))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillingEventCounter(Base):
    """Each business's last event sequence number. Taken under its row lock as the last
    statement of the transaction that writes the event, so sequence order is commit order and
    a reader after cursor N never misses an event that commits later with a smaller number."""

    __tablename__ = "billing_event_counters"

    tenant_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class BillingEvent(TenantOwned, Base):
    """What Ledgerline tells the billing system (a payment, a mandate, a credit, a call's end),
    written in the same transaction as the change. Rows are only ever added; the billing
    system acknowledges the ones it has applied (`acknowledged_at`)."""

    __tablename__ = "billing_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_billing_events_unacknowledged", "tenant_id", "acknowledged_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # the business's own order: the cursor
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # "evt_..."
    type: Mapped[str] = mapped_column(String(48))
    version: Mapped[str] = mapped_column(String(16))
    # Events of one account reach a receiver in order (`account_id` None: ordered alone).
    account_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    # The balance change it reports, if one: pending in billing until acknowledged.
    entry_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("account_entries.id", ondelete="SET NULL"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]


WEBHOOK_DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookSubscription(TenantOwned, Base):
    """A business's receiver of its events: where, which types, and the secret it signs with."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(100))
    # Event types it receives; ["*"]: all.
    event_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Set when the deliveries kept failing and it was disabled (the admins were told).
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(TenantOwned, Base):
    """One event to one subscription, until it is delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        _one_of("status", WEBHOOK_DELIVERY_STATUSES),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "subscription_id", "account_id", "id"),
        # What the claim asks of each due delivery: is an earlier one of its account still
        # pending? Only pending rows, however many were delivered before (the claim names the
        # status as a constant so that the plan can use it).
        Index(
            "ix_webhook_deliveries_pending_order",
            "subscription_id",
            "account_id",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("billing_events.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(BigInteger)  # the event's: its order
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_latency_ms: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(TenantOwned, Base):
    """One try of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(300))
    manual: Mapped[bool] = mapped_column(default=False)  # a redelivery an admin asked for


REMINDER_CHANNELS = ("email", "sms", "worklist")
REMINDER_STATUSES = ("planned", "sent", "listed", "stopped")


class ReminderSettings(TenantOwned, Base):
    """A business's reminders (`billing_bridge.reminders`): the steps by days overdue
    ([{"day": 1, "channel": "email"}, ...]), its own templates by language and channel
    (those it leaves out are the built-in ones), quiet hours ("HH:MM" local) and holidays
    (ISO dates). No row: no reminders."""

    __tablename__ = "reminder_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    steps: Mapped[list[Any]] = mapped_column(JSON)
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quiet_from: Mapped[str] = mapped_column(String(5), default="21:00")
    quiet_until: Mapped[str] = mapped_column(String(5), default="08:00")
    holidays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return _tenant_id(index=False)  # the unique key is its index


class Reminder(TenantOwned, Base):
    """One step of an account's reminders in one overdue episode (`overdue_since`: its oldest
    overdue invoice's date): planned once, then sent (the outbox message and its pay link),
    listed (the worklist's step) or stopped (`stop_reason`)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("account_id", "step_day", "overdue_since"),
        _one_of("channel", REMINDER_CHANNELS),
        _one_of("status", REMINDER_STATUSES),
        Index("ix_reminders_tenant_status_channel", "tenant_id", "status", "channel"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    step_day: Mapped[int]
    channel: Mapped[str] = mapped_column(String(8))
    overdue_since: Mapped[date] = mapped_column(Date)
    planned_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="planned")
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    payment_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


# The reminders planner reads each business's overdue accounts from its open invoices by date.
Index("ix_invoices_tenant_open_due", Invoice.tenant_id, Invoice.status, Invoice.due_on,
      Invoice.account_id)  # fmt: skip


# Report intervals (`pbx.reports`): the call log summed per quarter hour (`bucket`: whole
# 15-minute periods since 1970-01-01 UTC), added to as each call ends and rebuilt from the
# call log by `ledgerline report rebuild`. Waits are counted in bands (seconds, a band holds
# waits above the previous edge up to its own; the last, above 600): a service-level or
# short-abandon threshold on an edge is exact for every day already summed.
WAIT_BANDS = (5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300, 600)
WAIT_BAND_NAMES = (*(f"le_{edge}" for edge in WAIT_BANDS), f"gt_{WAIT_BANDS[-1]}")
QUEUE_INTERVAL_COUNTS = (
    "calls", "offered", "answered", "abandoned", "overflowed", "closed", "callbacks",
    "voicemail", "failed", "waited", "wait_sum", "answer_wait_sum", "abandon_wait_sum",
    "talk_sum",
    *(f"{kind}_{band}" for kind in ("waited", "answered", "abandoned")
      for band in WAIT_BAND_NAMES),
    "overflowed_queue", "overflowed_voicemail", "overflowed_callback",
)  # fmt: skip
AGENT_INTERVAL_COUNTS = ("handled", "inbound", "outbound", "talk_sum", "answer_wait_sum")


def _report_table(name: str, key: tuple[Column[Any], ...], counts: tuple[str, ...],
                  maxima: tuple[str, ...]) -> Table:  # fmt: skip
    """A tenant's sums by quarter hour; every statement on it names the tenant itself (it is
    not an ORM class, so the session's scoping does not reach it)."""
    return Table(
        name, Base.metadata,
        Column("tenant_id", BigIntId, ForeignKey("tenants.id", ondelete="CASCADE"),
               primary_key=True),
        Column("bucket", BigInteger, primary_key=True),
        *key,
        *(Column(column, BigInteger, nullable=False, default=0) for column in counts),
        *(Column(column, BigInteger, nullable=False, default=0) for column in maxima),
    )  # fmt: skip


# queue_id 0: calls that reached no queue (closed, voicemail or the IVR alone); did "":
# no dialled number known.
report_queue_intervals = _report_table(
    "report_queue_intervals",
    (Column("queue_id", BigInteger, primary_key=True), Column("did", String(16), primary_key=True)),
    QUEUE_INTERVAL_COUNTS, ("wait_max",),
)  # fmt: skip
report_agent_intervals = _report_table(
    "report_agent_intervals",
    (Column("agent_id", BigInteger, primary_key=True),
     Column("queue_id", BigInteger, primary_key=True)),
    AGENT_INTERVAL_COUNTS, ("talk_max",),
)  # fmt: skip


# The collections worklist (`billing_bridge.worklist`): whom to call next, and the rules
# that keep those calls lawful.
WORKLIST_STATUSES = ("queued", "claimed", "called", "done")
WORKLIST_OUTCOMES = (
    "right_party_contact", "wrong_party", "no_answer", "promise", "paid", "dispute", "refused",
    "callback",
)  # fmt: skip


class WorklistSettings(TenantOwned, Base):
    """A business's collection-call rules: the calling window ("HH:MM" on the customer's
    clock), the most call attempts an account may get in 7 days, after how many days
    overdue an account nobody has spoken to is listed, and how long a claim lasts. No row:
    the defaults. Holidays are the reminders' (`reminder_settings.holidays`)."""

    __tablename__ = "worklist_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    call_from: Mapped[str] = mapped_column(String(5), default="08:00")
    call_until: Mapped[str] = mapped_column(String(5), default="21:00")
    max_attempts: Mapped[int] = mapped_column(default=7)
    no_contact_days: Mapped[int] = mapped_column(default=10)
    claim_minutes: Mapped[int] = mapped_column(default=15)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return _tenant_id(index=False)  # the unique key is its index


class WorklistEntry(TenantOwned, Base):
    """An account on the worklist (one row an account, built again by each build): why it
    is there (`reasons`), its score and the parts the score is made of, and who holds it.
    queued -> claimed (an agent's preview, until `claimed_until`) -> called (the attempt
    placed) -> done (the call's collections outcome) or queued again (a callback at
    `due_at`, or the claim expired)."""

    __tablename__ = "worklist_entries"
    __table_args__ = (
        UniqueConstraint("account_id"),
        _one_of("status", WORKLIST_STATUSES),
        Index("ix_worklist_entries_tenant_status_score", "tenant_id", "status", "score"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(8), default="queued")
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    overdue_minor: Mapped[int] = mapped_column(BigInteger)
    days_overdue: Mapped[int]
    days_since_contact: Mapped[int | None]
    broken_promises: Mapped[int]
    score: Mapped[int]
    # Not offered before this moment (a callback the customer asked for).
    due_at: Mapped[datetime | None]
    claimed_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    claimed_until: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    decided_at: Mapped[datetime | None]
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorklistAttempt(TenantOwned, Base):
    """A collection call placed from the worklist, written with its compliance check in one
    transaction (so the 7-day count cannot be raced past), then linked to the call log's
    row once the call exists. `failed`: the agent's phone could not be rung, nobody was
    called (not counted)."""

    __tablename__ = "worklist_attempts"
    __table_args__ = (
        Index("ix_worklist_attempts_account_at", "account_id", "at"),
        Index("ix_worklist_attempts_call", "call_record_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("worklist_entries.id", ondelete="CASCADE")
    )
    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    agent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    number: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    call_record_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(String(24))


class DoNotCallNumber(TenantOwned, Base):
    """A number the business must not call about money, whoever it belongs to."""

    __tablename__ = "do_not_call_numbers"
    __table_args__ = (UniqueConstraint("tenant_id", "e164"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    e164: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    added_by_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return _tenant_id(index=False)  # the unique key is its index


# Agents' state history (`pbx.reports.agent_states`): one row a stretch of time an agent
# spent in one ACD state (`reason`: a pause's, else ""), written as states change; the
# agent's latest is open (`ended_at` null). `on_hold` rows overlap an `on_call` one: the
# caller of that call (`call_id`) on hold. A logged-out agent has no open row.
AGENT_SPAN_STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "on_hold")


class AgentStateSpan(TenantOwned, Base):
    __tablename__ = "agent_state_spans"
    __table_args__ = (
        _one_of("state", AGENT_SPAN_STATES),
        Index("ix_agent_state_spans_open", "tenant_id", "agent_id", "ended_at"),
        Index("ix_agent_state_spans_tenant_ended", "tenant_id", "ended_at"),
    )

    tenant_id: Mapped[int] = _tenant_id(index=False)  # the indexes lead with it
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64), default="")
    call_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("calls.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


# Seconds each agent spent in each state (and pause reason) per quarter hour, each span
# split at the quarter hours' edges; `entered`: spans that began in the quarter hour.
# Added to as spans end, rebuilt from `agent_state_spans` by `ledgerline report rebuild`.
report_agent_state_intervals = _report_table(
    "report_agent_state_intervals",
    (Column("agent_id", BigInteger, primary_key=True),
     Column("state", String(16), primary_key=True),
     Column("reason", String(64), primary_key=True)),
    ("seconds", "entered"), (),
)  # fmt: skip
