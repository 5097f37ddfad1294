"""PostgreSQL: a batch's writes as arrays, one statement each, instead of a row per parameter
set. Built once (`Scoped`: the tenant comes from the connection, never from the caller).

The intents are one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING; the answers
one such INSERT into payments, then one UPDATE of the batch's attempts FROM unnest(...) with
the ids of the payments just written. Both run in the session's transaction, so an attempt
takes its outcome exactly when its payment row is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
    bindparam,
    case,
    column,
    func,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.models import CollectionAttempt, Payment
from pbx.db.scoped import TENANT, Scoped, session_connection

_TIME = CollectionAttempt.__table__.c.created_at.type


def _unnest(name: str, **columns: Any) -> Any:
    """FROM unnest(:each_a, :each_b, ...) AS name(a, b, ...): one array per column (a column's
    own name is reserved for a parameter of the statement's table)."""
    arrays = [bindparam(f"each_{key}", type_=ARRAY(kind)) for key, kind in columns.items()]
    named = [column(key, kind) for key, kind in columns.items()]
    return func.unnest(*arrays).table_valued(*named).render_derived(name=name)


_i = _unnest(
    "i", invoice_id=BigInteger, mandate_id=BigInteger, attempt=Integer,
    idempotency_key=String, amount_minor=BigInteger, currency=String,
)  # fmt: skip
_INTENTS = Scoped(
    pg_insert(CollectionAttempt)
    .from_select(
        ["tenant_id", "run_id", "invoice_id", "mandate_id", "attempt", "idempotency_key",
         "amount_minor", "currency", "status", "created_at", "updated_at"],
        select(
            bindparam(TENANT, type_=BigInteger), bindparam("run", type_=BigInteger),
            _i.c.invoice_id, _i.c.mandate_id, _i.c.attempt, _i.c.idempotency_key,
            _i.c.amount_minor, _i.c.currency, literal("pending"), bindparam("now", type_=_TIME),
            bindparam("now", type_=_TIME),
        ),
    )
    .on_conflict_do_nothing()
    .returning(CollectionAttempt.idempotency_key, CollectionAttempt.id),
    CollectionAttempt,
)  # fmt: skip

_p = _unnest(
    "p", account_id=BigInteger, amount_minor=BigInteger, currency=String, method=String,
    provider_ref=String, idempotency_key=String, status=String, failure_reason=String,
    card_brand=String, card_last4=String, settled=Boolean,
)  # fmt: skip
_PAYMENTS = Scoped(
    pg_insert(Payment)
    .from_select(
        ["tenant_id", "account_id", "amount_minor", "currency", "method", "provider",
         "provider_ref", "idempotency_key", "status", "failure_reason", "created_at", "call_id",
         "card_brand", "card_last4", "status_at"],
        select(
            bindparam(TENANT, type_=BigInteger), _p.c.account_id, _p.c.amount_minor,
            _p.c.currency, _p.c.method, bindparam("provider_name", type_=String),
            _p.c.provider_ref, _p.c.idempotency_key, _p.c.status, _p.c.failure_reason,
            bindparam("now", type_=_TIME), null(), _p.c.card_brand, _p.c.card_last4,
            # A pending debit's status time is its settlement event's, written by the webhook.
            case((_p.c.settled, bindparam("now", type_=_TIME)), else_=null()),
        ),
    )
    .on_conflict_do_nothing()
    .returning(Payment.idempotency_key, Payment.id),
    Payment,
)  # fmt: skip

_o = _unnest(
    "o", idempotency_key=String, payment_id=BigInteger, status=String, failure_code=String,
    next_retry_on=Date,
)  # fmt: skip
_OUTCOMES = Scoped(
    update(CollectionAttempt)
    .where(
        CollectionAttempt.idempotency_key == _o.c.idempotency_key,
        CollectionAttempt.status == "pending",
    )
    .values(
        status=_o.c.status, payment_id=_o.c.payment_id, failure_code=_o.c.failure_code,
        next_retry_on=_o.c.next_retry_on, updated_at=bindparam("now", type_=_TIME),
    ),
    CollectionAttempt,
)  # fmt: skip

# Else succeeded (a refund or chargeback after it is the payment's story, not a reason
# to collect again).
_OUTCOME_OF_PAYMENT = {"pending": "submitted", "failed": "failed", "cancelled": "failed"}


def _columns(rows: Sequence[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    return {f"each_{name}": [row[name] for row in rows] for name in names}


async def write_intents(
    session: AsyncSession, intents: Sequence[dict[str, Any]], run_id: int, now: datetime
) -> dict[str, int]:
    """As `store.write_intents`, in one statement: {key: attempt id} of the rows inserted."""
    connection = await session_connection(session)
    parameters = _columns(intents, "invoice_id", "mandate_id", "attempt", "idempotency_key",
                          "amount_minor", "currency")  # fmt: skip
    rows = await connection.rows(_INTENTS, {**parameters, "run": run_id, "now": now})
    return {key: attempt_id for key, attempt_id in rows}


async def write_outcomes(
    session: AsyncSession,
    payments: Sequence[dict[str, Any]],
    retries: dict[str, date | None],
    provider: str,
    now: datetime,
) -> set[str]:
    """The provider's answers: payment rows (a key already there is kept as it is), and the
    attempts of the payments written take their outcome. `payments`: as `job._payment_row`;
    `retries`: the next retry day of attempts refused at once, by key. Returns the keys of the
    payments written (an attempt whose payment was there already stays pending; the next
    run reconciles it from that payment)."""
    if not payments:
        return set()
    connection = await session_connection(session)
    parameters = _columns(
        payments, "account_id", "amount_minor", "currency", "method", "provider_ref",
        "idempotency_key", "status", "failure_reason", "card_brand", "card_last4",
    )  # fmt: skip
    parameters["each_settled"] = [row["status_at"] is not None for row in payments]
    written = dict(
        await connection.rows(_PAYMENTS, {**parameters, "provider_name": provider, "now": now})
    )
    done = [row for row in payments if row["idempotency_key"] in written]
    if done:
        await connection.execute(_OUTCOMES, {
            "each_idempotency_key": [row["idempotency_key"] for row in done],
            "each_payment_id": [written[row["idempotency_key"]] for row in done],
            "each_status": [_OUTCOME_OF_PAYMENT.get(row["status"], "succeeded") for row in done],
            "each_failure_code": [row["failure_reason"] for row in done],
            "each_next_retry_on": [retries.get(row["idempotency_key"]) for row in done],
            "now": now,
        })  # fmt: skip
    return set(written)
