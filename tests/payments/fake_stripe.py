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
    "/v1/customers": {"name", "email", "metadata"},
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
            }[path]
            try:
                return handler(params)
            except _Invalid as exc:
                return _body(
                    400, "invalid_request_error", exc.message, param=exc.param, code=exc.code
                )
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
        customer = {
            "id": self._new("cus"),
            "object": "customer",
            "name": p.get("name"),
            "metadata": p.get("metadata") or {},
        }
        self.objects[customer["id"]] = customer
        return 200, customer

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
