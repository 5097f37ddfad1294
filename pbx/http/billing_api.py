"""The door in (`/api/v1/billing/...`): the business's billing system writes its customers,
accounts, invoices, external payments and balance adjustments by its own references, and
reads them back, with an API key (`billing:write` to write, `billing:read` to read).

Handlers read the body, turn it into a typed record (`billing_bridge.ingest.records`), hand
it to `billing_bridge.ingest.service` in one transaction under the request's
`Idempotency-Key` (`pbx.http.idempotency`), and map refusals to statuses. A batch writes in
its turn (`billing_bridge.ingest.turns`), once its lines are read. Once a change has
committed, the caller lookup forgets the changed customers' numbers and the desks of agents
on a call with one of them get `account.updated` with the panel as it is now.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, cast

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.ingest import reads, records, service
from billing_bridge.ingest.outcomes import IngestRefused, Result
from billing_bridge.ingest.statistics import refresh_statistics
from pbx.admin.api_keys import KeyCaller
from pbx.db.database import Database
from pbx.http import account_updates, billing_batch
from pbx.http.api import (
    MAX_BODY_BYTES,
    Api,
    ApiCall,
    ApiError,
    invalid,
    not_found,
    parse_json,
    read_body,
)
from pbx.http.api_keys_api import key_guard
from pbx.http.context import ApiContext, context
from pbx.http.idempotency import Answer, Work, once

log = logging.getLogger(__name__)

Outcome = Literal["created", "updated", "unchanged", "stale"]
_WRITE_ERRORS = (400, 409, 413, 415, 422)


class UpsertOut(BaseModel):
    ref: str
    outcome: Outcome


class AddressOut(BaseModel):
    line1: str | None
    line2: str | None
    city: str | None
    postal_code: str | None
    country: str | None


class BillingCustomerOut(BaseModel):
    ref: str
    name: str
    email: str | None
    phones: list[str]
    language: str | None
    date_of_birth: str | None
    address: AddressOut
    version: int | None
    updated_at: datetime


class BillingAccountOut(BaseModel):
    ref: str
    customer: str
    currency: str
    status: str
    vip: bool
    balance: int
    reported_balance: int | None
    reported_at: datetime | None
    pending_in_billing: int
    version: int | None
    updated_at: datetime


class BillingInvoiceOut(BaseModel):
    ref: str
    account: str
    currency: str
    amount: int
    outstanding: int
    issued: str
    due: str
    status: str
    line_summary: str | None
    version: int | None


class LineError(BaseModel):
    code: str
    message: str
    field: str | None


class BatchLineOut(BaseModel):
    line: int
    type: str | None
    ref: str | None
    outcome: Outcome | None = None
    error: LineError | None = None


class BatchOut(BaseModel):
    results: list[BatchLineOut]
    counts: dict[str, int]


Reader = Callable[..., records.Record]
Writer = Callable[[AsyncSession, records.Business, KeyCaller, Any], Awaitable[Result]]


def register(api: Api) -> None:
    _register_upserts(api)
    _register_reads(api)

    @api.operation("POST", "/billing/batch", summary="Many records at once: NDJSON, one "
                   "record a line (at most 10,000 lines, 16 MiB); each line all-or-nothing "
                   "on its own, one result a line", response=BatchOut, tag="billing",
                   guard=key_guard("billing:write"), errors=_WRITE_ERRORS)  # fmt: skip
    async def post_billing_batch(call: ApiCall) -> web.Response:
        media = call.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media != billing_batch.CONTENT_TYPE:
            raise ApiError(415, "unsupported_media_type",
                           f"send the records as {billing_batch.CONTENT_TYPE}")  # fmt: skip
        body = await read_body(call.request, billing_batch.MAX_BYTES)
        if billing_batch.line_count(body) > billing_batch.MAX_LINES:
            raise ApiError(413, "too_large", f"over {billing_batch.MAX_LINES:,} lines")
        applied: list[Result] = []
        fresh = await refresh_statistics(context(call.request).database)

        async def work(session: AsyncSession) -> Answer:
            business = await reads.business_of(session, _caller(call).tenant_id)
            lines = await billing_batch.read_lines(body, business)
            wanted = [line.record for line in lines if line.record is not None]
            async with context(call.request).batch_writes.turn():  # read, then write
                applied.extend(await service.apply_records(session, business, wanted,
                                                           _caller(call),
                                                           fresh_statistics=fresh))  # fmt: skip
            return Answer(200, billing_batch.answer(lines, applied))

        return await _write(call, body, work, applied)


def _register_upserts(api: Api) -> None:
    for path, kind, read, write in (
        ("customers", "customer", records.read_customer, service.upsert_customer),
        ("accounts", "account", records.read_account, service.upsert_account),
        ("invoices", "invoice", records.read_invoice, service.upsert_invoice),
    ):
        api.operation("PUT", f"/billing/{path}/{{ref}}", summary=f"Create or update the "
                      f"{kind} with this reference (the whole record; an older version "
                      "changes nothing)", response=UpsertOut, tag="billing",
                      guard=key_guard("billing:write"), errors=_WRITE_ERRORS,
                      )(_upsert_handler(f"put_billing_{kind}", read, write))  # fmt: skip
    for path, kind, read, write in (
        (
            "external-payments",
            "external_payment",
            records.read_external_payment,
            service.record_external_payment,
        ),
        ("adjustments", "adjustment", records.read_adjustment, service.record_adjustment),
    ):
        api.operation("POST", f"/billing/{path}", summary=f"Record an {kind.replace('_', ' ')}"
                      " of the billing system's (immutable: the same reference again changes "
                      "nothing)", response=UpsertOut, tag="billing",
                      guard=key_guard("billing:write"), errors=_WRITE_ERRORS,
                      )(_upsert_handler(f"post_billing_{kind}", read, write))  # fmt: skip


def _upsert_handler(name: str, read: Reader, write: Writer) -> Callable[[ApiCall], Any]:
    """A handler for one record: read it (its ref from the path, for a PUT), write it."""
    by_path = read in (records.read_customer, records.read_account, records.read_invoice)

    async def handler(call: ApiCall) -> web.Response:
        body = await read_body(call.request, MAX_BODY_BYTES)
        data = parse_json(body)
        applied: list[Result] = []

        async def work(session: AsyncSession) -> Answer:
            business = await reads.business_of(session, _caller(call).tenant_id)
            try:
                record = read(data, business, ref=call.path("ref")) if by_path else read(
                    data, business)  # fmt: skip
            except records.RecordInvalid as exc:
                raise invalid(exc.field, exc.problem) from None
            try:
                result = await write(session, business, record, _caller(call))
            except IngestRefused as exc:
                raise _refused(exc) from None
            applied.append(result)
            assert result.outcome is not None
            return Answer(200, {"ref": result.ref, "outcome": result.outcome.value})

        return await _write(call, body, work, applied)

    handler.__name__ = name
    return handler


def _register_reads(api: Api) -> None:
    read = key_guard("billing:read")

    @api.operation("GET", "/billing/customers/{ref}", summary="Read a customer by the billing "
                   "system's reference", response=BillingCustomerOut, tag="billing",
                   guard=read)  # fmt: skip
    async def get_billing_customer(call: ApiCall) -> BillingCustomerOut:
        found = await reads.customer_by_ref(_database(call), _caller(call).tenant_id,
                                            call.path("ref"))  # fmt: skip
        if found is None:
            raise not_found("customer")
        born = found.date_of_birth.isoformat() if found.date_of_birth else None
        return BillingCustomerOut(
            ref=found.ref, name=found.name, email=found.email, phones=list(found.phones),
            language=found.language, date_of_birth=born,
            address=AddressOut(**found.address), version=found.source_version,
            updated_at=found.updated_at,
        )  # fmt: skip

    @api.operation("GET", "/billing/accounts/{ref}", summary="Read an account by reference: "
                   "its balance, the balance the billing system last stated, and what "
                   "Ledgerline took or granted since that billing has not acknowledged",
                   response=BillingAccountOut, tag="billing", guard=read)  # fmt: skip
    async def get_billing_account(call: ApiCall) -> BillingAccountOut:
        found = await reads.account_by_ref(_database(call), _caller(call).tenant_id,
                                           call.path("ref"))  # fmt: skip
        if found is None:
            raise not_found("account")
        return BillingAccountOut(
            ref=found.ref, customer=found.customer_ref, currency=found.currency,
            status=found.status, vip=found.vip, balance=found.balance_minor,
            reported_balance=found.reported_balance_minor, reported_at=found.reported_at,
            pending_in_billing=found.pending_in_billing_minor, version=found.source_version,
            updated_at=found.updated_at,
        )  # fmt: skip

    @api.operation("GET", "/billing/invoices/{ref}", summary="Read an invoice by reference",
                   response=BillingInvoiceOut, tag="billing", guard=read)  # fmt: skip
    async def get_billing_invoice(call: ApiCall) -> BillingInvoiceOut:
        found = await reads.invoice_by_ref(_database(call), _caller(call).tenant_id,
                                           call.path("ref"))  # fmt: skip
        if found is None:
            raise not_found("invoice")
        return BillingInvoiceOut(
            ref=found.ref, account=found.account_ref, currency=found.currency,
            amount=found.amount_minor, outstanding=found.outstanding_minor,
            issued=found.issued_on.isoformat(), due=found.due_on.isoformat(),
            status=found.status, line_summary=found.line_summary, version=found.source_version,
        )  # fmt: skip


def _caller(call: ApiCall) -> KeyCaller:
    return cast(KeyCaller, call.principal)


def _database(call: ApiCall) -> Database:
    return context(call.request).database


def _refused(refused: IngestRefused) -> ApiError:
    status = 409 if refused.code == "conflict" else 422
    details = [{"field": refused.field or "(body)", "problem": refused.message}]
    return ApiError(status, refused.code, refused.message, details)


async def _write(call: ApiCall, body: bytes, work: Work, applied: list[Result]) -> web.Response:
    """Do the work once under the request's idempotency key, then the live effect."""
    ctx, caller = context(call.request), _caller(call)
    answer = await once(ctx.database, call.request, tenant_id=caller.tenant_id,
                        api_key_id=caller.key_id, body=body, work=work)  # fmt: skip
    if applied:
        await _live_effect(ctx, caller.tenant_id, applied)
    return answer.response()


async def _live_effect(ctx: ApiContext, tenant_id: int, applied: list[Result]) -> None:
    changed = [result for result in applied if result.changed]
    customers = {customer for result in changed for customer in result.customer_ids}
    numbers = {number for result in changed for number in result.numbers}
    await account_updates.announce(ctx, tenant_id, customers, numbers)
