"""The Stripe adapter: the payment-provider port on the official `stripe` SDK (async methods).

Endpoints (API reference, https://docs.stripe.com/api):
- charge_card: POST /v1/payment_intents, created and confirmed in one call and flagged MOTO
  (payment_method_options[card][moto]; https://docs.stripe.com/payments/payment-intents/moto).
- charge_mandate: GET /v1/mandates/:id (expand payment_method) or GET /v1/payment_methods/:id,
  then POST /v1/payment_intents with off_session=true, confirm=true.
- create_pay_link: POST /v1/checkout/sessions (mode=payment).
- create_mandate_link: POST /v1/customers, then POST /v1/checkout/sessions (mode=setup).
- create_mandate: POST /v1/customers, then POST /v1/setup_intents with payment_method_data,
  confirm=true and mandate_data[customer_acceptance][type]=offline (consent read on the phone).
  Both skip POST /v1/customers when the payer has a Stripe customer already (one per
  Ledgerline customer, `provider_customers`), and say which customer the mandate is under.
- pay_invoice_by_card (a Stripe Billing invoice paid in the call): GET /v1/invoices/:id, POST
  /v1/payment_methods, POST /v1/payment_methods/:id/attach (the invoice's customer), then POST
  /v1/invoices/:id/pay with payment_method and off_session=true.
- parse_webhook: Stripe-Signature checked by `stripe.WebhookSignature.verify_header`.

Card data: the SDK logs every request's form body at DEBUG; its client is opened by
`stripe_client.open_client`, which drops those records and refuses to start when console
debug logging is on. Errors are re-raised with our own messages (code, param, request id),
never Stripe's free text nor the SDK exception as a cause.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import stripe

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
from billing_bridge.payments.stripe_client import open_client

log = logging.getLogger(__name__)

# Ledgerline's scheme names -> Stripe's payment method types.
_SCHEMES = {"sepa_core": "sepa_debit", "bacs": "bacs_debit", "ach": "us_bank_account"}

_PAYMENT_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "processing": PaymentStatus.PENDING,
    "requires_capture": PaymentStatus.PENDING,
    # A phone payment cannot complete a customer action (3-D Secure): no money moves.
    "requires_action": PaymentStatus.FAILED,
    "requires_payment_method": PaymentStatus.FAILED,
    "requires_confirmation": PaymentStatus.FAILED,
    "canceled": PaymentStatus.FAILED,
}
_MANDATE_STATUS = {
    "active": MandateStatus.ACTIVE,
    "pending": MandateStatus.PENDING,
    "inactive": MandateStatus.CANCELLED,
}


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        webhook_secret: str,
        api_base: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
        max_network_retries: int = 2,
        timeout: float = 30.0,
        webhook_tolerance: int = 300,
    ) -> None:
        self._client, self._http = open_client(
            api_key, api_base=api_base, max_network_retries=max_network_retries,
            timeout=timeout,
        )  # fmt: skip
        self._webhook_secret = webhook_secret
        self._success_url, self._cancel_url = success_url, cancel_url
        self._tolerance = webhook_tolerance

    async def aclose(self) -> None:
        await self._http.close_async()

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
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "confirm": True,
            # Without an explicit type, newer API versions enable automatic payment methods
            # and a confirm would then ask for a return_url.
            "payment_method_types": ["card"],
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
            },
            "payment_method_options": {"card": {"moto": True}},
            "description": description,
            "metadata": {"customer_ref": customer_ref},
            "expand": ["payment_method"],
        }
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return _declined(exc, card_last4=card.last4)
        except stripe.StripeError as exc:
            raise _translate(exc, "charge_card") from None
        finally:
            params.clear()  # drop our references to the card fields at once
        return _charge_result(intent.to_dict(), card_last4=card.last4)

    async def pay_invoice_by_card(
        self,
        card: CardDetails,
        *,
        invoice_ref: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> ChargeResult:
        """A telephone card payment that pays a Stripe invoice in full: the card becomes a
        PaymentMethod of the invoice's customer, which pays it (POST /v1/invoices/:id/pay,
        off_session: the caller is not at a Stripe page). Refused before any charge when the
        invoice at Stripe no longer asks for `amount_minor` in `currency`: the caller was told
        that amount."""
        try:
            invoice = (await self._client.v1.invoices.retrieve_async(invoice_ref)).to_dict()
            owed = (invoice.get("amount_remaining"), str(invoice.get("currency", "")).upper())
            if invoice.get("status") != "open" or owed != (amount_minor, currency.upper()):
                raise ProviderError(f"stripe pay_invoice: {invoice_ref} no longer asks for "
                                    "this amount")  # fmt: skip
            method = await self._client.v1.payment_methods.create_async(
                {"type": "card", "card": {"number": card.number, "exp_month": card.exp_month,
                                          "exp_year": card.exp_year, "cvc": card.cvc}},
                {"idempotency_key": f"{idempotency_key}:payment_method"},
            )  # fmt: skip
            await self._client.v1.payment_methods.attach_async(
                method.id, {"customer": _id(invoice.get("customer")) or ""},
                {"idempotency_key": f"{idempotency_key}:attach"},
            )  # fmt: skip
            paid = await self._client.v1.invoices.pay_async(
                invoice_ref,
                {"payment_method": method.id, "off_session": True, "expand": ["payments"]},
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return _declined(exc, card_last4=card.last4)
        except stripe.StripeError as exc:
            raise _translate(exc, "pay_invoice") from None
        brand = (method.to_dict().get("card") or {}).get("brand")
        return _invoice_paid(paid.to_dict(), card_last4=card.last4, card_brand=brand)

    async def charge_mandate(
        self,
        mandate_ref: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        try:
            method = await self._payment_method(mandate_ref)
            params: dict[str, Any] = {
                "amount": amount_minor,
                "currency": currency.lower(),
                "customer": _id(method.get("customer")),
                "payment_method": method["id"],
                "payment_method_types": [method["type"]],
                "off_session": True,
                "confirm": True,
                "description": description,
                "expand": ["payment_method"],
            }
            if mandate_ref.startswith("mandate_"):
                params["mandate"] = mandate_ref
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return _declined(exc, card_last4=None)
        except stripe.StripeError as exc:
            raise _translate(exc, "charge_mandate") from None
        return _charge_result(intent.to_dict(), card_last4=None)

    async def _payment_method(self, mandate_ref: str) -> dict[str, Any]:
        if mandate_ref.startswith("mandate_"):
            mandate = await self._client.v1.mandates.retrieve_async(
                mandate_ref, {"expand": ["payment_method"]}
            )
            method = mandate.to_dict().get("payment_method")
            if not isinstance(method, dict):
                raise ProviderError(f"stripe: mandate {mandate_ref} has no payment method")
            return method
        # A card (or another payment method) kept on file: pm_...
        return (await self._client.v1.payment_methods.retrieve_async(mandate_ref)).to_dict()

    async def create_pay_link(
        self,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> PayLink:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": customer_ref,
            "metadata": {"customer_ref": customer_ref},
            "payment_intent_data": {
                "description": description,
                "metadata": {"customer_ref": customer_ref},
            },
            # No expires_at: a computed one would differ on a retry and break idempotency;
            # Stripe's default (24 h) is returned and passed on.
            **self._return_urls(),
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "create_pay_link") from None
        return PayLink(
            url=session.url or "", provider_ref=session.id, expires_at=_ts(session.to_dict())
        )

    # -- mandates -------------------------------------------------------------------------

    async def create_mandate_link(
        self, *, scheme: str, idempotency_key: str, customer_ref: str, customer_name: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        method_type = _method_type(scheme)
        try:
            customer = await self._customer(
                payer or Payer(customer_name), customer_ref, idempotency_key
            )
            session = await self._client.v1.checkout.sessions.create_async(
                {  # type: ignore[arg-type]
                    "mode": "setup",
                    "payment_method_types": [method_type],
                    "customer": customer,
                    "client_reference_id": customer_ref,
                    "metadata": {"customer_ref": customer_ref},
                    "setup_intent_data": {"metadata": {"customer_ref": customer_ref}},
                    **self._return_urls(),
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "create_mandate_link") from None
        return MandateResult(
            status=MandateStatus.PENDING,
            provider_ref=session.id,
            scheme=scheme,
            setup_url=session.url,
            provider_customer_id=customer,
        )

    async def create_mandate(
        self, account: BankAccount, *, scheme: str, idempotency_key: str, customer_ref: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        method_type = _method_type(scheme)
        customer: str | None = None
        try:
            customer = await self._customer(
                payer or Payer(account.account_holder, account.email), customer_ref,
                idempotency_key,
            )  # fmt: skip
            intent = await self._client.v1.setup_intents.create_async(
                {  # type: ignore[arg-type]
                    "customer": customer,
                    "confirm": True,
                    "usage": "off_session",
                    "payment_method_types": [method_type],
                    "payment_method_data": _bank_method_data(method_type, account),
                    # Consent read and given on the phone. No accepted_at: Stripe records the
                    # time of this request, and a computed one would break a retry's key.
                    "mandate_data": {"customer_acceptance": {"type": "offline", "offline": {}}},
                    "metadata": {"customer_ref": customer_ref},
                    "expand": ["mandate"],
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            failed = _error(exc).get("setup_intent")
            if failed:  # Stripe refused the bank details: a failed mandate
                return MandateResult(MandateStatus.FAILED, _id(failed) or "", scheme,
                                     provider_customer_id=customer)  # fmt: skip
            raise _translate(exc, "create_mandate") from None
        return replace(_mandate_result(intent.to_dict(), scheme), provider_customer_id=customer)

    async def _customer(self, payer: Payer, customer_ref: str, idempotency_key: str) -> str:
        """The payer's Stripe Customer (it holds the payment method so it can be charged
        off-session later): theirs when they have one, else made now with what we know."""
        if payer.provider_customer_id:
            return payer.provider_customer_id
        params: dict[str, Any] = {"name": payer.name, "metadata": {"customer_ref": customer_ref}}
        if payer.email:
            params["email"] = payer.email
        address = {
            "line1": payer.address_line1, "line2": payer.address_line2,
            "city": payer.address_city, "postal_code": payer.address_postal_code,
            "country": payer.address_country,
        }  # fmt: skip
        if any(address.values()):
            params["address"] = {key: value for key, value in address.items() if value}
        customer = await self._client.v1.customers.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"{idempotency_key}:customer"},
        )
        return customer.id

    def _return_urls(self) -> dict[str, str]:
        if not self._success_url:
            raise ProviderError("stripe: links need the success_url setting")
        urls = {"success_url": self._success_url}
        if self._cancel_url:
            urls["cancel_url"] = self._cancel_url
        return urls

    # -- webhooks -------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        signature = _header(headers, "Stripe-Signature")
        try:
            payload = body.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                payload, signature or "", self._webhook_secret, self._tolerance
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise WebhookRejected(f"stripe: {type(exc).__name__}") from None
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            raise WebhookMalformed("body") from None
        if not isinstance(event, dict):
            raise WebhookMalformed("body")
        return [_normalise(event)]


# -- translation helpers (pure) -----------------------------------------------------------


def _method_type(scheme: str) -> str:
    try:
        return _SCHEMES[scheme]
    except KeyError:
        raise ProviderError(f"stripe: scheme {scheme!r} is not offered") from None


def _bank_method_data(method_type: str, account: BankAccount) -> dict[str, Any]:
    details: dict[str, str | None]
    if method_type == "sepa_debit":
        details = {"iban": account.iban}
    elif method_type == "bacs_debit":
        details = {"sort_code": account.bank_code, "account_number": account.account_number}
    else:
        details = {
            "routing_number": account.bank_code,
            "account_number": account.account_number,
            "account_holder_type": "individual",
        }
    return {
        "type": method_type,
        method_type: details,
        "billing_details": {"name": account.account_holder}
        | ({"email": account.email} if account.email else {}),
    }


def _id(value: Any) -> str | None:
    """An expandable field: an id, or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _error(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _ts(obj: dict[str, Any]) -> datetime | None:
    expires = obj.get("expires_at")
    return datetime.fromtimestamp(expires, UTC) if expires else None


def _card_brand(intent: dict[str, Any]) -> str | None:
    method = intent.get("payment_method")
    card = method.get("card") if isinstance(method, dict) else None
    return card.get("brand") if card else None


def _charge_result(intent: dict[str, Any], *, card_last4: str | None) -> ChargeResult:
    status = _PAYMENT_STATUS.get(intent["status"], PaymentStatus.FAILED)
    error = intent.get("last_payment_error") or {}
    code = message = None
    if status is PaymentStatus.FAILED:
        code = error.get("decline_code") or error.get("code") or intent["status"]
        message = error.get("message")
    return ChargeResult(
        status=status,
        provider_ref=intent["id"],
        failure_code=code,
        failure_message=message,
        card_last4=card_last4,
        card_brand=_card_brand(intent),
    )


def _invoice_paid(
    invoice: dict[str, Any], *, card_last4: str, card_brand: str | None
) -> ChargeResult:
    """The PaymentIntent that paid the invoice (its `payments`, expanded) is the payment's
    provider_ref: refunds and disputes of it arrive as that PaymentIntent's events."""
    payments = (invoice.get("payments") or {}).get("data") or []
    intents = [_id((p.get("payment") or {}).get("payment_intent")) for p in payments]
    intent = next((i for i in reversed(intents) if i), None)
    paid = invoice.get("status") == "paid" and intent is not None
    return ChargeResult(
        status=PaymentStatus.SUCCEEDED if paid else PaymentStatus.FAILED,
        provider_ref=intent or invoice.get("id", ""),
        failure_code=None if paid else f"invoice_{invoice.get('status')}",
        card_last4=card_last4,
        card_brand=card_brand,
    )


def _declined(exc: stripe.CardError, *, card_last4: str | None) -> ChargeResult:
    error = _error(exc)
    return ChargeResult(
        status=PaymentStatus.FAILED,
        provider_ref=_id(error.get("payment_intent")) or "",
        failure_code=error.get("decline_code") or error.get("code") or exc.code,
        # Stripe's decline messages are written for the payer ("Your card was declined.").
        failure_message=error.get("message"),
        card_last4=card_last4,
    )


def _mandate_result(intent: dict[str, Any], scheme: str) -> MandateResult:
    mandate = intent.get("mandate")
    state = intent["status"]
    if state == "succeeded" and isinstance(mandate, dict):
        status = _MANDATE_STATUS.get(mandate.get("status"), MandateStatus.PENDING)
        if status is MandateStatus.CANCELLED:
            status = MandateStatus.FAILED  # inactive at birth: refused, not cancelled
    elif state == "processing":
        status = MandateStatus.SUBMITTED
    elif state in ("requires_action", "succeeded"):
        status = MandateStatus.PENDING  # e.g. ACH waiting for micro-deposit verification
    else:
        status = MandateStatus.FAILED
    return MandateResult(status=status, provider_ref=_id(mandate) or intent["id"], scheme=scheme)


def _translate(exc: stripe.StripeError, operation: str) -> ProviderError:
    """Our own message: code, param, status, request id. Never Stripe's free text, which can
    quote a rejected parameter's value."""
    error = _error(exc)
    parts = [f"stripe {operation}: {type(exc).__name__}"]
    if exc.http_status:
        parts.append(f"http {exc.http_status}")
    if error.get("code"):
        parts.append(f"code {error['code']}")
    if error.get("param"):
        parts.append(f"param {error['param']}")
    if exc.request_id:
        parts.append(f"request {exc.request_id}")
    message = ", ".join(parts)
    status = exc.http_status or 0
    unavailable = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
    if unavailable or status >= 500 or status in (409, 429):
        return ProviderUnavailable(message)
    return ProviderError(message)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _normalise(event: dict[str, Any]) -> WebhookEvent:
    """One Stripe event, every field read for its type and size (`event_fields`): a signed
    event with a malformed field is `WebhookMalformed`, never a crash."""
    kind = fields.name(event, "type", "")
    obj = fields.obj(fields.obj(event, "data", ""), "object", "data.")
    base = {
        "event_id": fields.ident(event, "id", ""),
        "type": kind,
        "occurred_at": fields.unix_time(event, "created", ""),
    }
    customer_ref = fields.text(fields.obj(obj, "metadata", "data.object.").get("customer_ref"))
    details = {"customer_ref": customer_ref} if customer_ref else {}
    ref = fields.ident(obj, "id", "data.object.", required=kind in _KNOWN_TYPES)

    if kind in _PAYMENT_EVENTS:
        error = fields.obj(obj, "last_payment_error", "data.object.")
        code = fields.text(error.get("decline_code") or error.get("code"), fields.MAX_TYPE)
        if code:
            details["failure_code"] = code
        return WebhookEvent(
            **base, resource="payment", provider_ref=ref, status=_PAYMENT_EVENTS[kind],
            details=details,
        )  # fmt: skip
    if kind in _CHARGE_EVENTS:
        return _charge_event(base, kind, obj, details)
    if kind == "mandate.updated":
        status = fields.name(obj, "status", "data.object.")
        return WebhookEvent(
            **base,
            resource="mandate",
            provider_ref=ref,
            status=_MANDATE_STATUS.get(status),
            details=details | _pick(obj, "payment_method"),
        )
    if kind == "setup_intent.succeeded":
        # Bacs mandates wait (about three working days) after the SetupIntent succeeds;
        # mandate.updated says when they are active. SEPA and ACH are usable at once.
        types = obj.get("payment_method_types") or []
        if not isinstance(types, list):
            raise WebhookMalformed("data.object.payment_method_types")
        status = MandateStatus.PENDING if "bacs_debit" in types else MandateStatus.ACTIVE
        return WebhookEvent(
            **base,
            resource="mandate",
            provider_ref=_ref_of(obj, "mandate") or ref,
            status=status,
            details=details | {"setup_intent": ref} | _pick(obj, "payment_method"),
        )
    if kind == "checkout.session.completed":
        return _checkout_completed(base, ref, obj, details)
    return WebhookEvent(
        **base,
        resource=fields.name(obj, "object", "data.object.", fields.MAX_RESOURCE),
        provider_ref=ref,
        status=None,
        raw_type_known=False,
    )


_PAYMENT_EVENTS = {
    "payment_intent.succeeded": PaymentStatus.SUCCEEDED,
    "payment_intent.processing": PaymentStatus.PENDING,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELLED,
}
# Events about a charge of a PaymentIntent: refunds (the charge's `amount_refunded` is the
# total refunded so far) and disputes (the money taken back by the payer's bank, and
# returned when the dispute is won).
_CHARGE_EVENTS = frozenset(
    {"charge.refunded", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"}
)
_KNOWN_TYPES = frozenset(
    {*_PAYMENT_EVENTS, *_CHARGE_EVENTS, "mandate.updated", "setup_intent.succeeded",
     "checkout.session.completed"}
)  # fmt: skip


def _charge_event(
    base: dict[str, Any], kind: str, obj: dict[str, Any], details: dict[str, str]
) -> WebhookEvent:
    intent = _ref_of(obj, "payment_intent")
    if not intent:
        raise WebhookMalformed("data.object.payment_intent")
    if kind == "charge.refunded":
        refunded = fields.amount(obj, "amount_refunded", "data.object.")
        charged = fields.amount(obj, "amount", "data.object.")
        if refunded is None or charged is None:
            raise WebhookMalformed("data.object.amount_refunded")
        whole = refunded >= charged
        status = PaymentStatus.REFUNDED if whole else PaymentStatus.PARTIALLY_REFUNDED
        details = details | {"refunded_minor": str(refunded)}
    elif kind == "charge.dispute.funds_withdrawn":
        status = PaymentStatus.CHARGED_BACK
    else:
        status = PaymentStatus.SUCCEEDED  # the dispute was won: the money is back
    return WebhookEvent(
        **base, resource="payment", provider_ref=intent, status=status, details=details
    )


def _checkout_completed(
    base: dict[str, Any], ref: str, obj: dict[str, Any], details: dict[str, str]
) -> WebhookEvent:
    if client := fields.text(obj.get("client_reference_id")):
        details = details | {"customer_ref": client}
    mode = fields.name(obj, "mode", "data.object.")
    if mode == "setup":  # a mandate link completed; the mandate follows
        return WebhookEvent(
            **base,
            resource="mandate",
            provider_ref=ref,
            status=MandateStatus.PENDING,
            details=details | _pick(obj, "setup_intent"),
        )
    paid = fields.name(obj, "payment_status", "data.object.") in ("paid", "no_payment_required")
    return WebhookEvent(
        **base,
        resource="pay_link",
        provider_ref=ref,
        status=PaymentStatus.SUCCEEDED if paid else PaymentStatus.PENDING,
        details=details | _pick(obj, "payment_intent"),
    )


def _ref_of(obj: dict[str, Any], key: str) -> str:
    """An expandable reference in an event: an id, or the expanded object's id."""
    value = obj.get(key)
    if isinstance(value, dict):
        return fields.ident(value, "id", f"data.object.{key}.")
    return fields.ident(obj, key, "data.object.", required=False)


def _pick(obj: dict[str, Any], key: str) -> dict[str, str]:
    value = _ref_of(obj, key)
    return {key: value} if value else {}
