"""A local Stripe API that answers as the API reference documents and checks what it receives.

Shapes follow https://docs.stripe.com/api: form-encoded requests (nested keys as a[b][0]),
`Authorization: Bearer sk_test_...`, errors as 4xx/5xx with {"error": {type, code, message,
param, ...}}, card errors as 402 carrying the PaymentIntent; idempotency as
https://docs.stripe.com/api/idempotent_requests documents (same key: the first result replayed
with `Idempotent-Replayed: true`; same key, other parameters: 400 idempotency_error). Declines
follow https://docs.stripe.com/testing (4000000000000002 card_declined, ...).

Every request is recorded (with its parsed parameters) for the tests to assert on. The card
numbers only ever live in `requests` here, never in a log.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "sk_test_ledgerline_fake_key"
WEBHOOK_SECRET = "whsec_ledgerline_fake_secret"

# https://docs.stripe.com/testing#declined-payments : number -> (code, decline_code, message)
DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000069": ("expired_card", None, "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", None, "Your card's security code is incorrect."),
    "4000000000000119": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
BRANDS = {"4": "visa", "5": "mastercard", "3": "amex"}

_ALLOWED = {
    "/v1/payment_intents": {
        "amount",
        "currency",
        "confirm",
        "payment_method",
        "payment_method_data",
        "payment_method_types",
        "payment_method_options",
        "description",
        "metadata",
        "customer",
        "off_session",
        "mandate",
        "expand",
        "setup_future_usage",
    },
    "/v1/setup_intents": {
        "customer",
        "confirm",
        "usage",
        "payment_method_types",
        "payment_method_data",
        "mandate_data",
        "metadata",
        "expand",
        "payment_method_options",
    },
    "/v1/customers": {"name", "email", "phone", "address", "metadata"},
    "/v1/payment_methods": {"type", "card", "billing_details", "metadata"},
    "/v1/checkout/sessions": {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "payment_intent_data",
        "setup_intent_data",
        "payment_method_types",
        "customer",
        "expires_at",
        "currency",
    },
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    status: int = 0


@dataclass
class FakeStripe:
    requests: list[Recorded] = field(default_factory=list)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Queued failures: (status, path or None) answered before the request is processed.
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    # Paths whose next request is processed and then loses its response (connection cut).
    drop_after_processing: list[str] = field(default_factory=list)
    _idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    _invoice_payments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _now: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- controls for tests ---------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, path: str | None = None) -> None:
        self.failures.extend([(status, path)] * times)

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def charges(self) -> list[dict[str, Any]]:
        """PaymentIntents that moved money (or started to)."""
        return [
            pi
            for pi in self.payment_intents.values()
            if pi["status"] in ("succeeded", "processing")
        ]

    def add_payment_method(self, pm_type: str, *, customer: str | None) -> dict[str, Any]:
        pm = {
            "id": self._new("pm"),
            "object": "payment_method",
            "type": pm_type,
            "customer": customer,
            pm_type: {"last4": "3000"} if pm_type != "card" else {"brand": "visa", "last4": "4242"},
        }
        self.objects[pm["id"]] = pm
        return pm

    def add_mandate(self, pm: dict[str, Any], status: str = "active") -> dict[str, Any]:
        mandate = {
            "id": self._new("mandate"),
            "object": "mandate",
            "status": status,
            "type": "multi_use",
            "payment_method": pm["id"],
            "customer_acceptance": {"type": "offline", "offline": {}},
        }
        self.objects[mandate["id"]] = mandate
        return mandate

    # -- Stripe Billing: customers and invoices made "in the Dashboard" ----------------------

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        """A Customer as https://docs.stripe.com/api/customers/object shows one."""
        customer = {
            "id": self._new("cus"), "object": "customer", "created": self._clock(),
            "name": None, "email": None, "phone": None, "address": None, "balance": 0,
            "currency": None, "deleted": None, "metadata": {}, "livemode": False,
        } | fields  # fmt: skip
        self.objects[customer["id"]] = customer
        return customer

    def add_invoice(self, customer: dict[str, Any], amount: int, **fields: Any) -> dict[str, Any]:
        """A finalized (open) Invoice as https://docs.stripe.com/api/invoices/object shows one."""
        ident = self._new("in")
        invoice = {
            "id": ident, "object": "invoice", "customer": customer["id"],
            "number": f"LL-{ident[-4:]}", "status": "open", "currency": "ils",
            "amount_due": amount, "amount_paid": 0, "amount_remaining": amount,
            "created": self._clock(), "due_date": None, "description": None,
            "collection_method": "send_invoice", "livemode": False, "metadata": {},
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None,
                                   "marked_uncollectible_at": None},
        } | fields  # fmt: skip
        self.objects[ident] = invoice
        return invoice

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        return list(self._invoice_payments.get(invoice_id, []))

    def _clock(self) -> int:
        self._now = max(self._now + 1, int(time.time()))
        return self._now

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Newest first, as every list endpoint returns them."""
        found = [o for o in self.objects.values() if o.get("object") == kind]
        return sorted(found, key=lambda o: (o["created"], o["id"]), reverse=True)

    def _billing_route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """Lists, retrieves and Invoice.pay; None for the paths this part does not serve."""
        parts = path.removeprefix("/v1/").split("/")
        try:
            if method == "GET" and parts in (["customers"], ["invoices"]):
                return self._list(parts[0], params)
            if method == "GET" and len(parts) == 2 and parts[0] in ("customers", "invoices"):
                return self._retrieve(parts[0], parts[1], params)
            if method == "POST" and len(parts) == 3 and parts[::2] == ["invoices", "pay"]:
                return self._pay_invoice(parts[1], params)
            if method == "POST" and len(parts) == 3 and parts[::2] == ["payment_methods", "attach"]:
                return self._attach(parts[1], params)
        except _Invalid as exc:
            return _body(400, "invalid_request_error", exc.message, param=exc.param,
                         code=exc.code)  # fmt: skip
        return None

    # GET /v1/customers, /v1/invoices (https://docs.stripe.com/api/pagination)
    def _list(self, kind: str, p: dict[str, Any]) -> tuple[int, Any]:
        limit = _int(p, "limit") if "limit" in p else 10
        if not 1 <= limit <= 100:
            raise _Invalid("limit", "This value must be between 1 and 100.")
        found = self.of_kind(kind.removesuffix("s"))
        if kind == "customers":
            found = [c for c in found if not c.get("deleted")]
        if kind == "invoices" and p.get("status"):
            if p["status"] not in ("draft", "open", "paid", "uncollectible", "void"):
                raise _Invalid("status", "Invalid status")
            found = [i for i in found if i["status"] == p["status"]]
        if p.get("customer"):
            found = [o for o in found if o.get("customer") == p["customer"]]
        created = p.get("created")
        if isinstance(created, dict) and "gte" in created:
            found = [o for o in found if o["created"] >= _int(created, "gte")]
        if after := p.get("starting_after"):
            ids = [o["id"] for o in found]
            if after not in self.objects:
                raise _Invalid("starting_after", f"No such object: '{after}'", "resource_missing")
            found = found[ids.index(after) + 1 :] if after in ids else []
        page = found[:limit]
        return 200, {"object": "list", "url": f"/v1/{kind}", "has_more": len(found) > limit,
                     "data": page}  # fmt: skip

    def _retrieve(self, kind: str, ident: str, p: dict[str, Any]) -> tuple[int, Any]:
        obj = self.objects.get(ident)
        if obj is None or obj.get("object") != kind.removesuffix("s"):
            return _body(404, "invalid_request_error", f"No such {kind[:-1]}: '{ident}'",
                         code="resource_missing", param="id")  # fmt: skip
        return 200, self._invoice_out(obj, p) if kind == "invoices" else obj

    def _invoice_out(self, invoice: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        """`payments` is includable: present only when expanded."""
        if "payments" not in (p.get("expand") or []):
            return invoice
        data = self.invoice_payments(invoice["id"])
        listed = {"object": "list", "data": data, "has_more": False,
                  "url": f"/v1/invoice_payments?invoice={invoice['id']}"}  # fmt: skip
        return invoice | {"payments": listed}

    # POST /v1/payment_methods (https://docs.stripe.com/api/payment_methods/create)
    def _create_payment_method(self, p: dict[str, Any]) -> tuple[int, Any]:
        pm = self._method_from_data(p)
        return 200, {k: v for k, v in pm.items() if not k.startswith("_")}

    # POST /v1/payment_methods/:id/attach (https://docs.stripe.com/api/payment_methods/attach)
    def _attach(self, ident: str, p: dict[str, Any]) -> tuple[int, Any]:
        pm = self.objects.get(ident)
        if pm is None or pm.get("object") != "payment_method":
            raise _Invalid("payment_method", f"No such PaymentMethod: '{ident}'",
                           "resource_missing")  # fmt: skip
        customer = p.get("customer")
        if not customer or self.objects.get(customer, {}).get("object") != "customer":
            raise _Invalid("customer", f"No such customer: '{customer}'", "resource_missing")
        if pm["customer"] not in (None, customer):
            raise _Invalid("customer", "The PaymentMethod is attached to another Customer")
        pm["customer"] = customer
        return 200, {k: v for k, v in pm.items() if not k.startswith("_")}

    # POST /v1/invoices/:id/pay (https://docs.stripe.com/api/invoices/pay)
    def _pay_invoice(self, ident: str, p: dict[str, Any]) -> tuple[int, Any]:
        unknown = sorted(set(p) - {"payment_method", "off_session", "paid_out_of_band",
                                   "forgive", "mandate", "source", "expand"})  # fmt: skip
        if unknown:
            raise _Invalid(unknown[0], f"Received unknown parameter: {unknown[0]}",
                           "parameter_unknown")  # fmt: skip
        invoice = self.objects.get(ident)
        if invoice is None or invoice.get("object") != "invoice":
            return _body(404, "invalid_request_error", f"No such invoice: '{ident}'",
                         code="resource_missing", param="invoice")  # fmt: skip
        if invoice["status"] not in ("open", "uncollectible"):
            raise _Invalid("invoice", f"Invoice is {invoice['status']}", "invoice_not_open")
        if p.get("paid_out_of_band") == "true":
            self._mark_paid(invoice, payment=None)
            return 200, self._invoice_out(invoice, p)
        pm = self.objects.get(p.get("payment_method", ""))
        if pm is None:
            raise _Invalid("payment_method", "No payment method to charge", "resource_missing")
        if pm["customer"] != invoice["customer"]:
            raise _Invalid("payment_method", "The PaymentMethod must belong to the invoice's "
                           "customer")  # fmt: skip
        intent: dict[str, Any] = {
            "id": self._new("pi"), "object": "payment_intent",
            "amount": invoice["amount_remaining"], "currency": invoice["currency"],
            "customer": invoice["customer"], "payment_method": pm["id"],
            "payment_method_types": [pm["type"]], "status": "requires_payment_method",
            "last_payment_error": None, "description": f"Invoice {invoice['number']}",
            "metadata": {}, "created": self._clock(),
        }  # fmt: skip
        self.payment_intents[intent["id"]] = intent
        decline = DECLINES.get(pm.get("_number", ""))
        if decline:
            code, decline_code, message = decline
            error = {"type": "card_error", "code": code, "decline_code": decline_code,
                     "message": message, "payment_intent": intent}  # fmt: skip
            intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_intent"}
            invoice["attempt_count"] = invoice.get("attempt_count", 0) + 1
            return 402, {"error": error}
        intent["status"] = "succeeded"
        self._mark_paid(invoice, payment=intent["id"])
        return 200, self._invoice_out(invoice, p)

    def _mark_paid(self, invoice: dict[str, Any], payment: str | None) -> None:
        paid = invoice["amount_remaining"]
        invoice.update(status="paid", amount_paid=invoice["amount_paid"] + paid,
                       amount_remaining=0, paid_out_of_band=payment is None)  # fmt: skip
        invoice["status_transitions"] = invoice["status_transitions"] | {"paid_at": self._clock()}
        if payment is not None:
            self._invoice_payments.setdefault(invoice["id"], []).append({
                "id": self._new("inpay"), "object": "invoice_payment", "amount_paid": paid,
                "amount_requested": paid, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "status": "paid",
                "payment": {"type": "payment_intent", "payment_intent": payment},
            })  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # -- the wire -------------------------------------------------------------------------

    def _new(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):014d}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            if request.content_type != "application/x-www-form-urlencoded":
                return _error(400, "invalid_request_error", "Body must be form-encoded")
            pairs = parse_qsl(await request.text(), keep_blank_values=True)
        else:
            pairs = list(request.query.items())
        params = _nest(pairs)
        record = Recorded(request.method, request.path, dict(request.headers), params)
        self.requests.append(record)
        response = await self._answer(request, params)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, params: dict[str, Any]) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided: sk_test_****")
        if not request.headers.get("Stripe-Version"):
            return _error(400, "invalid_request_error", "Stripe-Version header missing")
        for i, (status, path) in enumerate(self.failures):
            if path in (None, request.path):
                del self.failures[i]
                return _failure(status)

        key = request.headers.get("Idempotency-Key")
        fingerprint = json.dumps([request.method, request.path, params], sort_keys=True)
        if request.method == "POST" and key and key in self._idempotency:
            seen, status, body = self._idempotency[key]
            if seen != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})

        status, body = self._route(request.method, request.path, params)
        # Results are kept once the endpoint ran (validation failures, status 400, are not).
        if request.method == "POST" and key and status in (200, 402):
            self._idempotency[key] = (fingerprint, status, body)
        if request.path in self.drop_after_processing:
            self.drop_after_processing.remove(request.path)
            assert request.transport is not None
            request.transport.close()  # the charge happened; the caller never hears of it
            return web.Response(status=204)
        return web.json_response(body, status=status, headers={"Request-Id": self._new("req")})

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path in _ALLOWED:
            unknown = sorted(set(params) - _ALLOWED[path])
            if unknown:
                return _body(
                    400,
                    "invalid_request_error",
                    f"Received unknown parameter: {unknown[0]}",
                    param=unknown[0],
                    code="parameter_unknown",
                )
            handler = {
                "/v1/payment_intents": self._create_payment_intent,
                "/v1/setup_intents": self._create_setup_intent,
                "/v1/customers": self._create_customer,
                "/v1/checkout/sessions": self._create_checkout_session,
                "/v1/payment_methods": self._create_payment_method,
            }[path]
            try:
                return handler(params)
            except _Invalid as exc:
                return _body(
                    400, "invalid_request_error", exc.message, param=exc.param, code=exc.code
                )
        if (answer := self._billing_route(method, path, params)) is not None:
            return answer
        if method == "GET":
            kind, _, ident = path.removeprefix("/v1/").partition("/")
            store = self.payment_intents if kind == "payment_intents" else self.objects
            if kind in ("payment_intents", "mandates", "payment_methods") and ident in store:
                return 200, self._expand(store[ident], params.get("expand") or [])
            return _body(
                404,
                "invalid_request_error",
                f"No such {kind}: '{ident}'",
                code="resource_missing",
                param="id",
            )
        return _body(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _expand(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        out = dict(obj)
        for name in expand:
            ref = out.get(name)
            if isinstance(ref, str) and ref in self.objects:
                out[name] = self.objects[ref]
        return out

    # POST /v1/payment_intents (https://docs.stripe.com/api/payment_intents/create)
    def _create_payment_intent(self, p: dict[str, Any]) -> tuple[int, Any]:
        amount = _int(p, "amount")
        if amount < 1:
            raise _Invalid("amount", "Amount must be at least 1")
        currency = _currency(p)
        types = p.get("payment_method_types") or ["card"]
        intent: dict[str, Any] = {
            "id": self._new("pi"),
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "description": p.get("description"),
            "metadata": p.get("metadata") or {},
            "customer": p.get("customer"),
            "payment_method_types": types,
            "status": "requires_payment_method",
            "last_payment_error": None,
            "payment_method": None,
            "created": int(time.time()),
        }
        if p.get("off_session") == "true" and p.get("confirm") != "true":
            raise _Invalid("off_session", "off_session can only be used with confirm=true")
        pm = self._payment_method_for(p, types)
        if pm is not None:
            intent["payment_method"] = pm["id"]
        self.payment_intents[intent["id"]] = intent
        if p.get("confirm") == "true":
            if pm is None:
                raise _Invalid("payment_method", "You must provide a payment method to confirm")
            decline = DECLINES.get(pm.pop("_number", ""))
            if decline:
                code, decline_code, message = decline
                error = {
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                    "payment_method": pm,
                }
                intent["last_payment_error"] = error
                return 402, {"error": error | {"payment_intent": intent}}
            intent["status"] = "succeeded" if pm["type"] == "card" else "processing"
        return 200, self._expand(intent, p.get("expand") or [])

    def _payment_method_for(self, p: dict[str, Any], types: list[str]) -> dict[str, Any] | None:
        if "payment_method" in p:
            pm = self.objects.get(p["payment_method"])
            if pm is None:
                raise _Invalid("payment_method", "No such PaymentMethod", "resource_missing")
            if pm["customer"] and pm["customer"] != p.get("customer"):
                raise _Invalid("customer", "The PaymentMethod belongs to another Customer")
            if p.get("mandate") and self.objects.get(p["mandate"], {}).get("status") != "active":
                raise _Invalid("mandate", "The mandate is not active")
        elif "payment_method_data" in p:
            pm = self._method_from_data(p["payment_method_data"])
        else:
            return None
        if pm["type"] not in types:
            raise _Invalid("payment_method_types", "PaymentMethod type not in payment_method_types")
        return pm

    def _method_from_data(self, data: dict[str, Any]) -> dict[str, Any]:
        kind = data.get("type")
        fields = {
            "card": ("number", "exp_month", "exp_year", "cvc"),
            "sepa_debit": ("iban",),
            "bacs_debit": ("sort_code", "account_number"),
            "us_bank_account": ("routing_number", "account_number", "account_holder_type"),
        }.get(kind or "")
        if fields is None:
            raise _Invalid("payment_method_data[type]", f"Invalid type: {kind}")
        given = data.get(kind) or {}
        for name in fields:
            if not given.get(name):
                raise _Invalid(
                    f"payment_method_data[{kind}][{name}]",
                    f"Missing required param: payment_method_data[{kind}][{name}].",
                    "parameter_missing",
                )
        if kind != "card" and not (data.get("billing_details") or {}).get("name"):
            raise _Invalid(
                "payment_method_data[billing_details][name]", "Name required", "parameter_missing"
            )
        pm = self.add_payment_method(kind, customer=None)
        if kind == "card":
            number = given["number"]
            pm["card"] = {"brand": BRANDS.get(number[:1], "unknown"), "last4": number[-4:]}
            pm["_number"] = number  # consumed by the confirm, never returned
        return pm

    # POST /v1/setup_intents (https://docs.stripe.com/api/setup_intents/create)
    def _create_setup_intent(self, p: dict[str, Any]) -> tuple[int, Any]:
        customer = p.get("customer")
        if customer and customer not in self.objects:
            raise _Invalid("customer", f"No such customer: '{customer}'", "resource_missing")
        types = p.get("payment_method_types") or ["card"]
        intent: dict[str, Any] = {
            "id": self._new("seti"),
            "object": "setup_intent",
            "customer": customer,
            "usage": p.get("usage", "off_session"),
            "payment_method_types": types,
            "metadata": p.get("metadata") or {},
            "status": "requires_payment_method",
            "mandate": None,
            "payment_method": None,
            "next_action": None,
        }
        if p.get("confirm") == "true":
            if "payment_method_data" not in p:
                raise _Invalid("payment_method", "You must provide a payment method to confirm")
            acceptance = (p.get("mandate_data") or {}).get("customer_acceptance") or {}
            if acceptance.get("type") not in ("online", "offline"):
                raise _Invalid(
                    "mandate_data[customer_acceptance][type]",
                    "mandate_data is required to confirm a bank debit",
                    "parameter_missing",
                )
            if acceptance["type"] == "online" and not (acceptance.get("online") or {}).get(
                "ip_address"
            ):
                raise _Invalid("mandate_data[customer_acceptance][online]", "ip_address needed")
            pm = self._method_from_data(p["payment_method_data"])
            if pm["type"] not in types:
                raise _Invalid("payment_method_types", "type not in payment_method_types")
            pm["customer"] = customer
            intent["payment_method"] = pm["id"]
            if pm["type"] == "us_bank_account":  # manual entry: micro-deposits first
                intent["status"] = "requires_action"
                intent["next_action"] = {"type": "verify_with_microdeposits"}
            else:
                status = "pending" if pm["type"] == "bacs_debit" else "active"
                mandate = self.add_mandate(pm, status)
                mandate["customer_acceptance"] = acceptance
                intent["mandate"] = mandate["id"]
                intent["status"] = "succeeded"
        self.objects[intent["id"]] = intent
        return 200, self._expand(intent, p.get("expand") or [])

    # POST /v1/customers (https://docs.stripe.com/api/customers/create)
    def _create_customer(self, p: dict[str, Any]) -> tuple[int, Any]:
        fields = {k: p.get(k) for k in ("name", "email", "phone", "address")}
        return 200, self.add_customer(**fields, metadata=p.get("metadata") or {})

    # POST /v1/checkout/sessions (https://docs.stripe.com/api/checkout/sessions/create)
    def _create_checkout_session(self, p: dict[str, Any]) -> tuple[int, Any]:
        mode = p.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise _Invalid("mode", "Invalid mode", "parameter_missing")
        if not p.get("success_url"):
            raise _Invalid("success_url", "Missing required param: success_url.")
        if mode == "payment":
            items = p.get("line_items") or []
            if not items:
                raise _Invalid("line_items", "line_items required in payment mode")
            for i, item in enumerate(items):
                price = item.get("price_data") or {}
                if not price.get("currency") or not (price.get("product_data") or {}).get("name"):
                    raise _Invalid(f"line_items[{i}][price_data]", "price_data incomplete")
                _int(price, "unit_amount")
                _int(item, "quantity")
        if mode == "setup" and not (p.get("payment_method_types") or p.get("currency")):
            raise _Invalid("currency", "currency or payment_method_types required in setup mode")
        ident = self._new("cs_test")
        session = {
            "id": ident,
            "object": "checkout.session",
            "mode": mode,
            "url": f"https://checkout.stripe.com/c/pay/{ident}",
            "expires_at": int(time.time()) + 86400,
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": p.get("client_reference_id"),
            "customer": p.get("customer"),
            "metadata": p.get("metadata") or {},
            "success_url": p["success_url"],
            "cancel_url": p.get("cancel_url"),
        }
        self.objects[ident] = session
        return 200, session


class _Invalid(Exception):
    def __init__(self, param: str, message: str, code: str = "parameter_invalid") -> None:
        self.param, self.message, self.code = param, message, code


def _int(p: dict[str, Any], name: str) -> int:
    try:
        return int(p[name])
    except (KeyError, ValueError):
        raise _Invalid(name, f"Missing or invalid integer: {name}", "parameter_missing") from None


def _currency(p: dict[str, Any]) -> str:
    currency = p.get("currency", "")
    if len(currency) != 3 or currency != currency.lower():
        raise _Invalid("currency", "Invalid currency", "parameter_invalid_string")
    return currency


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form keys as Stripe reads them: a[b][0][c]=v -> {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, *rest = key.replace("]", "").split("[")
        parts = [head, *rest]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _body(status: int, kind: str, message: str, **extra: Any) -> tuple[int, Any]:
    error = {"type": kind, "message": message} | {k: v for k, v in extra.items() if v}
    return status, {"error": error}


def _error(status: int, kind: str, message: str) -> web.Response:
    status, body = _body(status, kind, message)
    return web.json_response(body, status=status)


def _failure(status: int) -> web.Response:
    if status == 429:  # https://docs.stripe.com/rate-limits
        return web.json_response(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly.",
                }
            },
            status=429,
        )
    return web.json_response(
        {"error": {"type": "api_error", "message": "An unknown error occurred"}}, status=status
    )


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<payload>"))
    (https://docs.stripe.com/webhooks#verify-manually)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(kind: str, obj: dict[str, Any], *, ident: str, created: int) -> bytes:
    """An Event as Stripe posts it (https://docs.stripe.com/api/events/object): the object as
    it was when the event happened."""
    payload = {"id": ident, "object": "event", "type": kind, "created": created,
               "api_version": "2026-10-28.endive", "livemode": False,
               "data": {"object": json.loads(json.dumps(obj))}}  # fmt: skip
    return json.dumps(payload).encode()
