"""A caller the line could not tell from their number (withheld, unknown, or a number several
customers share) proves who they are on the keypad: the account number, then the account
holder's PIN or date of birth.

Guessing is limited twice: per call by the caller of `identify` (the route's attempts), and
per account here, across calls: after `MAX_FAILURES` wrong PINs or dates of birth for one
account within `WINDOW`, that account cannot be identified on the phone until the window has
passed (an agent still can). The caller is never told which part was wrong, nor whether the
account exists or is locked. The digits keyed go nowhere but the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import BigInteger, Date, and_, bindparam, cast, func, select

from billing_bridge.identification.model import AccountSummary, CustomerProfile
from billing_bridge.verification import date_of_birth_matches, pin_matches
from pbx.db.database import Database
from pbx.db.models import Account, Customer, Invoice, IvrIdentityFailure

MAX_FAILURES = 5
WINDOW = timedelta(hours=1)
LONGEST_ACCOUNT_NUMBER = 16  # keyed on the phone: digits only


class Method(StrEnum):
    PIN = "pin"
    DATE_OF_BIRTH = "date_of_birth"


class Refusal(StrEnum):
    NO_MATCH = "no_match"  # no such account, nothing on file to check, or the wrong secret
    LOCKED = "locked"  # too many wrong tries for this account lately


@dataclass(frozen=True, slots=True)
class Identified:
    customer_id: int
    account_id: int
    priority: int  # as caller-lookup would have set it (VIP, collections, normal)
    in_arrears: bool


@dataclass(frozen=True, slots=True)
class NotIdentified:
    refusal: Refusal


# The holder of an account keyed by its number, with their PIN and birth date on file.
_HOLDER = (
    select(Account.id, Customer.id.label("customer_id"), Customer.pin_hash,
           Customer.date_of_birth)
    .join(Customer, Account.customer_id == Customer.id)
)  # fmt: skip
_OVERDUE = and_(Invoice.account_id == Account.id, Invoice.status == "open",
                Invoice.due_on < bindparam("today", type_=Date))  # fmt: skip
# What is overdue on an account today (SUM of a BIGINT is NUMERIC on PostgreSQL).
_OVERDUE_SUM = (
    select(cast(func.coalesce(func.sum(Invoice.outstanding_minor), 0), BigInteger))
    .where(_OVERDUE).correlate(Account).scalar_subquery()
)


class IvrIdentity:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def identify(
        self, tenant_id: int, *, account_number: str, method: Method, keyed: str,
        call_record_id: int | None, now: datetime, today: date,
    ) -> Identified | NotIdentified:  # fmt: skip
        """Whether `keyed` is the PIN or date of birth of the holder of `account_number`;
        a wrong one is counted against the account (in its own statement, committed)."""
        if not (account_number.isdigit() and len(account_number) <= LONGEST_ACCOUNT_NUMBER):
            return NotIdentified(Refusal.NO_MATCH)
        async with self.database.tenant_autocommit(tenant_id) as session:
            holders = (
                await session.execute(_HOLDER.where(Account.account_ref == account_number))
            ).all()
            if len(holders) != 1:
                return NotIdentified(Refusal.NO_MATCH)
            holder = holders[0]
            failures = await session.scalar(
                select(func.count()).where(IvrIdentityFailure.account_id == holder.id,
                                           IvrIdentityFailure.at > now - WINDOW)
            )  # fmt: skip
        if (failures or 0) >= MAX_FAILURES:
            return NotIdentified(Refusal.LOCKED)  # not even compared: no oracle for guesses
        if method is Method.PIN:
            ok = pin_matches(holder.pin_hash, keyed)
        else:
            ok = date_of_birth_matches(holder.date_of_birth, keyed)
        if not ok:
            async with self.database.tenant_session(tenant_id) as session, session.begin():
                session.add(IvrIdentityFailure(account_id=holder.id, call_id=call_record_id,
                                               at=now))  # fmt: skip
            return NotIdentified(Refusal.NO_MATCH)
        return await self._identified(tenant_id, holder.customer_id, holder.id, today)

    async def _identified(
        self, tenant_id: int, customer_id: int, account_id: int, today: date
    ) -> Identified:
        async with self.database.tenant_autocommit(tenant_id) as session:
            rows = (
                await session.execute(
                    select(Account.id, Account.account_ref, Account.currency,
                           Account.balance_minor, Account.status, Account.vip, _OVERDUE_SUM)
                    .where(Account.customer_id == customer_id).order_by(Account.id),
                    {"today": today},
                )
            ).all()  # fmt: skip
        accounts = tuple(
            AccountSummary(r[0], r[1], r[2], int(r[3]), r[4], bool(r[5]), int(r[6] or 0))
            for r in rows
        )
        profile = CustomerProfile(customer_id, "", "", None, accounts,
                                  accounts[0].currency if accounts else "")  # fmt: skip
        in_arrears = profile.account_status in ("overdue", "suspended") or any(
            v > 0 for v in profile.overdue.values()
        )
        return Identified(customer_id, account_id, profile.priority, in_arrears)
