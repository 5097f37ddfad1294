"""What identifying a caller yields, and the rules that summarise an account: no I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# app_queue serves higher QUEUE_PRIO first; the same numbers drive Ledgerline's own ACD.
PRIORITY_VIP = 10
PRIORITY_COLLECTIONS = 5
PRIORITY_NORMAL = 0

# Which account status an agent must see first when a customer holds several accounts.
_STATUS_WEIGHT = {"suspended": 3, "overdue": 2, "active": 1, "closed": 0}
IN_ARREARS = frozenset({"overdue", "suspended"})


class Match(StrEnum):
    UNIQUE = "unique"
    AMBIGUOUS = "ambiguous"
    NONE = "none"


class NoMatchReason(StrEnum):
    WITHHELD = "withheld"
    MISSING = "missing"
    INVALID = "invalid"
    UNKNOWN_DID = "unknown-did"
    NOT_FOUND = "not-found"


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account_id: int
    account_ref: str
    currency: str
    balance_minor: int
    status: str
    vip: bool
    overdue_minor: int = 0
    overdue_invoices: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    customer_id: int
    customer_ref: str
    name: str
    last_contact_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """Everything the IVR and the queue need to know about one identified customer."""

    customer_id: int
    customer_ref: str
    name: str
    last_contact_at: datetime | None
    accounts: tuple[AccountSummary, ...]
    headline_currency: str

    @property
    def vip(self) -> bool:
        return any(a.vip and a.status != "closed" for a in self.accounts)

    @property
    def balances(self) -> dict[str, int]:
        return _sum_by_currency((a.currency, a.balance_minor) for a in self.accounts)

    @property
    def overdue(self) -> dict[str, int]:
        return _sum_by_currency((a.currency, a.overdue_minor) for a in self.accounts)

    @property
    def balance_minor(self) -> int:
        """What the customer owes in the headline currency."""
        return self.headline()[2]

    @property
    def account_status(self) -> str:
        """The status that matters most across the customer's accounts ('' with none)."""
        return self.headline()[0]

    @property
    def priority(self) -> int:
        return self.headline()[1]

    def headline(self) -> tuple[str, int, int]:
        """(account_status, priority, balance_minor) in one pass over the accounts: every
        caller-lookup needs all three (the properties, each on its own, cost three times)."""
        status, weight, vip = "", -1, False
        overdue: dict[str, int] = {}
        balance = 0
        for account in self.accounts:
            # The first of the weightiest statuses, as max() would choose.
            if (rank := _STATUS_WEIGHT.get(account.status, 0)) > weight:
                status, weight = account.status, rank
            vip = vip or (account.vip and account.status != "closed")
            overdue[account.currency] = overdue.get(account.currency, 0) + account.overdue_minor
            if account.currency == self.headline_currency:
                balance += account.balance_minor
        if vip:
            priority = PRIORITY_VIP
        elif status in IN_ARREARS or any(v > 0 for v in overdue.values()):
            priority = PRIORITY_COLLECTIONS
        else:
            priority = PRIORITY_NORMAL
        return status, priority, balance


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """Who is calling, as it travels with the call: set by caller-lookup in the LL_* channel
    variables (`variables.py`) and read back from StasisStart, or made by the service in
    ARI-only setups. One value whichever way it came, so routing has one rule."""

    match: Match
    customer_id: int | None = None
    priority: int = PRIORITY_NORMAL
    account_status: str = ""
    customer_name: str = ""
    balance_minor: int | None = None  # in `currency`, the headline one
    currency: str = ""
    candidates: int = 0
    reason: NoMatchReason | None = None

    @property
    def in_arrears(self) -> bool:
        """An identified customer behind on payments: the collections route serves them."""
        if self.customer_id is None:
            return False
        return self.account_status in IN_ARREARS or self.priority == PRIORITY_COLLECTIONS


@dataclass(frozen=True, slots=True)
class Identification:
    match: Match
    caller_e164: str | None = None
    tenant_id: int | None = None
    customer: CustomerProfile | None = None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    reason: NoMatchReason | None = None

    @classmethod
    def nobody(
        cls, reason: NoMatchReason, tenant_id: int | None = None, caller: str | None = None
    ) -> Identification:
        return cls(Match.NONE, caller_e164=caller, tenant_id=tenant_id, reason=reason)

    @property
    def priority(self) -> int:
        return self.customer.priority if self.customer else PRIORITY_NORMAL

    def identity(self) -> CallerIdentity:
        """What travels with the call: the figures routing and the desk use."""
        customer = self.customer if self.match is Match.UNIQUE else None
        if customer is None:
            return CallerIdentity(
                self.match, priority=self.priority, candidates=len(self.candidates),
                reason=self.reason,
            )  # fmt: skip
        status, priority, balance = customer.headline()
        return CallerIdentity(
            self.match, customer.customer_id, priority, status, customer.name, balance,
            customer.headline_currency, len(self.candidates), self.reason,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identification:
        customer = None
        if data.get("customer"):
            raw = dict(data["customer"])
            raw["last_contact_at"] = _parse_time(raw.get("last_contact_at"))
            raw["accounts"] = tuple(AccountSummary(**a) for a in raw["accounts"])
            customer = CustomerProfile(**raw)
        return cls(
            match=Match(data["match"]),
            caller_e164=data.get("caller_e164"),
            tenant_id=data.get("tenant_id"),
            customer=customer,
            candidates=tuple(
                Candidate(**(c | {"last_contact_at": _parse_time(c.get("last_contact_at"))}))
                for c in data.get("candidates", ())
            ),
            reason=NoMatchReason(data["reason"]) if data.get("reason") else None,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _sum_by_currency(pairs: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for currency, amount in pairs:
        totals[currency] = totals.get(currency, 0) + amount
    return totals
