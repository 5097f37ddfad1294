"""The GoCardless adapter: the payment-provider port on the official `gocardless_pro` SDK.

The SDK is synchronous (requests), so every call runs in a worker thread. Endpoints
(https://developer.gocardless.com/api-reference):
- charge_mandate: POST /payments (amount in minor units, links.mandate).
- create_pay_link: POST /billing_requests with a payment_request, then POST
  /billing_request_flows -> authorisation_url (Instant Bank Pay by link).
- create_mandate_link: POST /billing_requests with a mandate_request, then a flow.
- create_mandate (bank details by phone): POST /billing_requests (mandate_request with
  authorisation_source=telephone), then the actions collect_customer_details,
  collect_bank_account, confirm_payer_details and fulfil (each skipped when already done, so a
  retry resumes), then GET /mandates/:id for the status. Bacs by phone needs the payer's postal
  address (customer_billing_detail): refused, naming the missing fields, without it.
- Both mandate requests name the payer's GoCardless customer (links[customer]) when they have
  one, so a second mandate reuses it; the result says which customer the mandate is under.
- charge_card: GoCardless takes no card payments; ProviderError.
- parse_webhook: Webhook-Signature checked by `gocardless_pro.webhooks.parse`.

Idempotency: GoCardless answers a reused Idempotency-Key with 409 idempotent_creation_conflict
and the SDK then fetches the resource the key first created. GoCardless does not compare the
bodies, so `charge_mandate` checks the payment it got back is the one asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import gocardless_pro
import requests
from gocardless_pro import errors as gc_errors
from gocardless_pro import webhooks as gc_webhooks

from billing_bridge.payments import event_fields as fields
from billing_bridge.payments.port import (
    BankAccount,
    CardDetails,
    ChargeResult,
    MandateResult,
    MandateStatus,
    Payer,
    PayLink,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    WebhookEvent,
    WebhookMalformed,
    WebhookRejected,
)

T = TypeVar("T")

SCHEMES = frozenset(
    {"ach", "autogiro", "bacs", "becs", "becs_nz", "betalingsservice", "pad", "sepa_core"}
)

_PAYMENT_STATUS = {
    "pending_customer_approval": PaymentStatus.PENDING,
    "pending_submission": PaymentStatus.PENDING,
    "submitted": PaymentStatus.PENDING,
    "confirmed": PaymentStatus.SUCCEEDED,
    "paid_out": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "cancelled": PaymentStatus.FAILED,
    "customer_approval_denied": PaymentStatus.FAILED,
    "charged_back": PaymentStatus.FAILED,
}
_MANDATE_STATUS = {
    "pending_customer_approval": MandateStatus.PENDING,
    "pending_submission": MandateStatus.PENDING,
    "submitted": MandateStatus.SUBMITTED,
    "active": MandateStatus.ACTIVE,
    "failed": MandateStatus.FAILED,
    "blocked": MandateStatus.FAILED,
    "cancelled": MandateStatus.CANCELLED,
    "consumed": MandateStatus.CANCELLED,
    "suspended_by_payer": MandateStatus.CANCELLED,
    "expired": MandateStatus.EXPIRED,
}
# Webhook actions (https://developer.gocardless.com/api-reference/#event-types).
_MANDATE_ACTIONS = {
    "created": MandateStatus.PENDING,
    "customer_approval_granted": MandateStatus.PENDING,
    "submitted": MandateStatus.SUBMITTED,
    "active": MandateStatus.ACTIVE,
    "reinstated": MandateStatus.ACTIVE,
    "failed": MandateStatus.FAILED,
    "blocked": MandateStatus.FAILED,
    "cancelled": MandateStatus.CANCELLED,
    "expired": MandateStatus.EXPIRED,
}
_PAYMENT_ACTIONS = {
    "created": PaymentStatus.PENDING,
    "submitted": PaymentStatus.PENDING,
    "confirmed": PaymentStatus.SUCCEEDED,
    "paid_out": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "cancelled": PaymentStatus.CANCELLED,
    "customer_approval_denied": PaymentStatus.FAILED,
    # The payer's bank took a paid payment back, and (if the merchant disputed it) gave it
    # back; a failure after confirmation ("late failure") arrives as "failed".
    "charged_back": PaymentStatus.CHARGED_BACK,
    "chargeback_cancelled": PaymentStatus.SUCCEEDED,
    # Failed, then submitted again at the merchant's request: pending once more.
    "resubmission_requested": PaymentStatus.PENDING,
}
_ACTION_ORDER = ("collect_customer_details", "collect_bank_account", "confirm_payer_details")


class GoCardlessProvider:
    name = "gocardless"

    def __init__(
        self,
        access_token: str,
        *,
        webhook_secret: str,
        environment: str = "sandbox",
        base_url: str | None = None,
        redirect_uri: str | None = None,
        exit_uri: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._client = gocardless_pro.Client(
            access_token=access_token, environment=environment, base_url=base_url, timeout=timeout
        )
        self._webhook_secret = webhook_secret
        self._redirect_uri, self._exit_uri = redirect_uri, exit_uri

    async def _call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(f"gocardless {operation}: {type(exc).__name__}") from None
        except gc_errors.GoCardlessProError as exc:
            raise _translate(exc, operation) from None

    # -- payments -------------------------------------------------------------------------

    async def charge_card(
        self,
        card: CardDetails,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> ChargeResult:
        raise ProviderError("gocardless takes bank payments only: no card payments by phone")

    async def charge_mandate(
        self,
        mandate_ref: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        params = {
            "amount": amount_minor,  # GoCardless takes minor units (pence, cents)
            "currency": currency.upper(),
            "description": description,
            "links": {"mandate": mandate_ref},
        }
        try:
            payment = await self._call(
                "charge_mandate",
                self._client.payments.create,
                params=params,
                headers={"Idempotency-Key": idempotency_key},
            )
        except _MandateInactive as exc:
            return ChargeResult(PaymentStatus.FAILED, "", failure_code=exc.reason)
        got = payment.attributes
        asked = (amount_minor, currency.upper(), mandate_ref)
        if (
            got.get("amount"),
            got.get("currency"),
            (got.get("links") or {}).get("mandate"),
        ) != asked:
            raise ProviderError(
                f"gocardless charge_mandate: idempotency key already used for payment {got['id']}"
                " with other parameters"
            )
        return ChargeResult(
            status=_PAYMENT_STATUS.get(got["status"], PaymentStatus.PENDING),
            provider_ref=got["id"],
            failure_code=got["status"] if got["status"] in ("failed", "cancelled") else None,
        )

    async def create_pay_link(
        self,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> PayLink:
        request = {
            "payment_request": {
                "amount": amount_minor,
                "currency": currency.upper(),
                "description": description,
            },
            "metadata": {"customer_ref": customer_ref},
        }
        billing_request = await self._billing_request("create_pay_link", request, idempotency_key)
        flow = await self._flow("create_pay_link", billing_request["id"], prefill=None)
        return PayLink(
            url=flow["authorisation_url"],
            provider_ref=billing_request["id"],
            expires_at=_when(flow.get("expires_at")),
        )

    # -- mandates -------------------------------------------------------------------------

    async def create_mandate_link(
        self, *, scheme: str, idempotency_key: str, customer_ref: str, customer_name: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        request = {
            "mandate_request": {"scheme": _scheme(scheme)},
            "metadata": {"customer_ref": customer_ref},
        } | _existing_customer(payer)
        billing_request = await self._billing_request(
            "create_mandate_link", request, idempotency_key
        )
        flow = await self._flow(
            "create_mandate_link", billing_request["id"], prefill=_names(customer_name)
        )
        return MandateResult(
            status=MandateStatus.PENDING,
            provider_ref=billing_request["id"],
            scheme=scheme,
            setup_url=flow["authorisation_url"],
            provider_customer_id=(billing_request.get("links") or {}).get("customer"),
        )

    async def create_mandate(
        self, account: BankAccount, *, scheme: str, idempotency_key: str, customer_ref: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        op = "create_mandate"
        if scheme == "bacs" and (missing := (payer or Payer("")).missing_address()):
            # Bacs by phone: GoCardless needs the payer's postal address, which the keypad
            # cannot give; it comes from the customer's record.
            raise ProviderError(f"gocardless {op}: a Bacs mandate by phone needs the payer's "
                                f"postal address; missing {', '.join(missing)}")  # fmt: skip
        request = {
            "mandate_request": {"scheme": _scheme(scheme), "authorisation_source": "telephone"},
            "metadata": {"customer_ref": customer_ref},
        } | _existing_customer(payer)
        billing_request = await self._billing_request(op, request, idempotency_key)
        bodies = {
            "collect_customer_details": {
                "customer": _names(account.account_holder)
                | ({"email": account.email} if account.email else {}),
                "customer_billing_detail": _billing_detail(account, payer),
            },
            "collect_bank_account": _bank_details(account),
            "confirm_payer_details": {},
        }
        service = self._client.billing_requests
        done = {
            a["type"] for a in billing_request.get("actions") or [] if a["status"] == "completed"
        }
        for action in _ACTION_ORDER:
            if action in done or billing_request["status"] == "fulfilled":
                continue
            billing_request = (
                await self._call(
                    op,
                    getattr(service, action),
                    billing_request["id"],
                    params=bodies[action],
                    headers={"Idempotency-Key": f"{idempotency_key}:{action}"},
                )
            ).attributes
        if billing_request["status"] != "fulfilled":
            billing_request = (
                await self._call(
                    op,
                    service.fulfil,
                    billing_request["id"],
                    params={},
                    headers={"Idempotency-Key": f"{idempotency_key}:fulfil"},
                )
            ).attributes
        mandate_id = (billing_request.get("links") or {}).get("mandate_request_mandate")
        if not mandate_id:
            raise ProviderError(f"gocardless {op}: {billing_request['id']} gave no mandate")
        mandate = (await self._call(op, self._client.mandates.get, mandate_id)).attributes
        return MandateResult(
            status=_MANDATE_STATUS.get(mandate["status"], MandateStatus.PENDING),
            provider_ref=mandate_id,
            scheme=scheme,
            provider_customer_id=(billing_request.get("links") or {}).get("customer"),
        )

    async def _billing_request(
        self, operation: str, request: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        created = await self._call(
            operation,
            self._client.billing_requests.create,
            params=request,
            headers={"Idempotency-Key": idempotency_key},
        )
        return created.attributes

    async def _flow(
        self, operation: str, billing_request_id: str, prefill: dict[str, str] | None
    ) -> dict[str, Any]:
        # A flow is only a hosted page over the billing request and moves no money; the SDK's
        # own key is fine (flows have no GET, so a conflict on our key could not be resolved).
        params: dict[str, Any] = {"links": {"billing_request": billing_request_id}}
        if self._redirect_uri:
            params["redirect_uri"] = self._redirect_uri
        if self._exit_uri:
            params["exit_uri"] = self._exit_uri
        if prefill:
            params["prefilled_customer"] = prefill
        flow = await self._call(operation, self._client.billing_request_flows.create, params=params)
        return flow.attributes

    # -- webhooks -------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        signature = _header(headers, "Webhook-Signature")
        # A header that is not ASCII cannot be compared (the SDK's compare_digest raises).
        if not signature or not signature.isascii():
            raise WebhookRejected("gocardless: no Webhook-Signature")
        try:
            events = gc_webhooks.parse(body, self._webhook_secret, signature)
        except gc_errors.InvalidSignatureError:
            raise WebhookRejected("gocardless: InvalidSignatureError") from None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # Signed (the SDK checks the signature before it reads the body), but not a body
            # of events.
            raise WebhookMalformed("events") from None
        return [_normalise(event.attributes, f"events[{n}].") for n, event in enumerate(events)]


# -- translation helpers (pure) -----------------------------------------------------------


class _MandateInactive(ProviderError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"gocardless: {reason}")
        self.reason = reason


def _translate(exc: gc_errors.GoCardlessProError, operation: str) -> ProviderError:
    prefix = f"gocardless {operation}: {type(exc).__name__}"
    if isinstance(exc, gc_errors.MalformedResponseError):  # an HTML 5xx page, a proxy
        status = exc.status_code or 0
        error_class = ProviderUnavailable if status >= 500 or status == 429 else ProviderError
        return error_class(f"{prefix}, http {status}")
    if not isinstance(exc, gc_errors.ApiError):
        return ProviderError(prefix)
    reasons = [e.get("reason") for e in exc.errors or [] if e.get("reason")]
    if "mandate_is_inactive" in reasons:
        return _MandateInactive("mandate_is_inactive")
    fields = [f"{e.get('field')} {e.get('message')}" for e in exc.errors or [] if e.get("field")]
    detail = ", ".join(fields or reasons) or str(exc.message or "")
    message = f"{prefix} ({exc.type}, http {exc.code}): {detail}; request {exc.request_id}"
    if isinstance(exc, gc_errors.RateLimitError | gc_errors.GoCardlessInternalError):
        return ProviderUnavailable(message)
    return ProviderError(message)


def _scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ProviderError(f"gocardless: scheme {scheme!r} is not offered")
    return scheme


def _names(full_name: str) -> dict[str, str]:
    """GoCardless wants given and family names apart; the last word is taken as the family
    name (a single word is sent as the family name alone)."""
    given, _, family = full_name.strip().rpartition(" ")
    return {"given_name": given, "family_name": family} if given else {"family_name": family}


def _existing_customer(payer: Payer | None) -> dict[str, Any]:
    """A billing request for the payer's GoCardless customer, when they have one (one per
    Ledgerline customer): GoCardless makes a new customer otherwise."""
    if payer is None or not payer.provider_customer_id:
        return {}
    return {"links": {"customer": payer.provider_customer_id}}


def _billing_detail(account: BankAccount, payer: Payer | None) -> dict[str, str]:
    detail = {"country_code": account.country}
    if payer is None or payer.missing_address():
        return detail
    fields = {
        "address_line1": payer.address_line1, "address_line2": payer.address_line2,
        "city": payer.address_city, "postal_code": payer.address_postal_code,
        "country_code": payer.address_country,
    }  # fmt: skip
    return detail | {key: value for key, value in fields.items() if value}


def _bank_details(account: BankAccount) -> dict[str, str]:
    """Our fields -> GoCardless's local bank details
    (https://developer.gocardless.com/api-reference/#appendix-local-bank-details)."""
    details = {"account_holder_name": account.account_holder, "country_code": account.country}
    if account.iban:
        return details | {"iban": account.iban}
    details["account_number"] = account.account_number or ""
    if account.country == "GB":  # the sort code is GoCardless's branch_code
        details["branch_code"] = account.bank_code or ""
    else:
        details["bank_code"] = account.bank_code or ""
        if account.branch_code:
            details["branch_code"] = account.branch_code
    if account.country == "US":  # ACH needs the type; a caller's own account is checking
        details["account_type"] = "checking"
    return details


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _normalise(event: object, where: str) -> WebhookEvent:
    """One GoCardless event, every field read for its type and size (`event_fields`): a
    signed event with a malformed field is `WebhookMalformed`, never a crash."""
    if not isinstance(event, dict):
        raise WebhookMalformed(where.rstrip("."))
    kind = fields.name(event, "resource_type", where, fields.MAX_RESOURCE)
    action = fields.name(event, "action", where)
    links = fields.obj(event, "links", where)
    base = {
        "event_id": fields.ident(event, "id", where),
        "type": f"{kind}.{action}"[: fields.MAX_TYPE],
        "occurred_at": fields.iso_time(event, "created_at", where),
        "details": fields.details(fields.obj(event, "details", where)),
    }

    def link(name: str, required: bool = True) -> str:
        return fields.ident(links, name, f"{where}links.", required=required)

    if kind == "mandates":
        status = _MANDATE_ACTIONS.get(action)
        return WebhookEvent(
            **base, resource="mandate", provider_ref=link("mandate", status is not None),
            status=status, raw_type_known=status is not None,
        )  # fmt: skip
    if kind == "payments":
        status = _PAYMENT_ACTIONS.get(action)
        return WebhookEvent(
            **base, resource="payment", provider_ref=link("payment", status is not None),
            status=status, raw_type_known=status is not None,
        )  # fmt: skip
    if kind == "billing_requests" and action == "fulfilled":
        # The billing request is what a link returned; its new mandate or payment follows.
        follow = {k: v for k in ("mandate_request_mandate", "payment_request_payment")
                  if (v := link(k, required=False))}  # fmt: skip
        by_mandate = "mandate_request_mandate" in follow
        return WebhookEvent(
            **base | {"details": base["details"] | follow},
            resource="mandate" if by_mandate else "pay_link",
            provider_ref=link("billing_request"),
            status=MandateStatus.PENDING if by_mandate else PaymentStatus.PENDING,
        )
    first = next(iter(links), None)
    ref = link(first, required=False) if isinstance(first, str) else ""
    return WebhookEvent(**base, resource=kind, provider_ref=ref, status=None, raw_type_known=False)
