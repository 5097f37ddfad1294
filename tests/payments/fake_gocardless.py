"""A local GoCardless API that answers as the API reference documents and checks what it gets.

Shapes follow https://developer.gocardless.com/api-reference: JSON bodies enveloped by the
resource name ({"payments": {...}}; actions take {"data": {...}}), `Authorization: Bearer`,
`GoCardless-Version: 2015-07-06`, errors as {"error": {"type", "code", "message",
"request_id", "documentation_url", "errors": [{"field"|"reason", "message", ...}]}}.
Idempotency as documented (#making-requests-idempotency-keys): a create with a key already
used answers 409 invalid_state / idempotent_creation_conflict with
links.conflicting_resource_id, whatever the body (the SDK then GETs that resource).

Every request is recorded with its JSON body for the tests to assert on.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ACCESS_TOKEN = "sandbox_ledgerline_fake_token"
WEBHOOK_SECRET = "gc_ledgerline_fake_webhook_secret"
CREATED_AT = "2026-03-02T10:15:00.000Z"
SCHEME_CURRENCY = {"bacs": "GBP", "sepa_core": "EUR", "ach": "USD", "becs": "AUD", "pad": "CAD"}

# Create endpoints that honour Idempotency-Key: path -> resource kind.
_CREATES = {"/payments": "payments", "/billing_requests": "billing_requests"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class FakeGoCardless:
    requests: list[Recorded] = field(default_factory=list)
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    drop_after_processing: list[str] = field(default_factory=list)
    # Scheme rules as `collect_customer_details` reports them in incomplete_fields.
    required_customer_fields: tuple[str, ...] = ("family_name",)
    _keys: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- controls for tests ---------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1) -> None:
        self.failures.extend([status] * times)

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def add_mandate(self, status: str = "active", scheme: str = "bacs") -> dict[str, Any]:
        mandate = {
            "id": self._new("MD"),
            "created_at": CREATED_AT,
            "status": status,
            "scheme": scheme,
            "reference": "LEDGERLINE-1",
            "metadata": {},
            "links": {"creditor": "CR123", "customer": "CU123", "customer_bank_account": "BA1"},
        }
        self.store[mandate["id"]] = mandate
        return mandate

    def of_kind(self, prefix: str) -> list[dict[str, Any]]:
        return [v for k, v in self.store.items() if k.startswith(prefix)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # -- the wire -------------------------------------------------------------------------

    def _new(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        record = Recorded(request.method, request.path, dict(request.headers), body)
        self.requests.append(record)
        response = self._answer(request, body)
        record.status = response.status
        if request.path in self.drop_after_processing and response.status < 300:
            self.drop_after_processing.remove(request.path)
            assert request.transport is not None
            request.transport.close()  # created, but the caller never hears of it
        return response

    def _answer(self, request: web.Request, body: Any) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return _error(401, "invalid_api_usage", "Unauthorized", "unauthorized")
        if request.headers.get("GoCardless-Version") != "2015-07-06":
            return _error(400, "invalid_api_usage", "Missing version", "version_required")
        if self.failures:
            status = self.failures.pop(0)
            if status == 429:
                return _error(
                    429, "invalid_api_usage", "Rate limit exceeded", "rate_limit_exceeded"
                )
            return _error(status, "gocardless", "Uh-oh! An internal error occurred", "internal")
        if request.method == "POST":
            if request.content_type != "application/json" or not isinstance(body, dict):
                return _error(
                    400, "invalid_api_usage", "Invalid JSON body", "invalid_document_structure"
                )
            key = request.headers.get("Idempotency-Key")
            if request.path in _CREATES and key in self._keys:
                return _error(
                    409,
                    "invalid_state",
                    "A resource has already been created with this idempotency key",
                    "idempotent_creation_conflict",
                    links={"conflicting_resource_id": self._keys[key]},
                )
            try:
                status, answer = self._post(request.path, body)
            except _Invalid as exc:
                return (
                    _validation(exc.errors)
                    if exc.kind == "validation_failed"
                    else _error(422, exc.kind, exc.errors[0]["message"], exc.errors[0]["reason"])
                )
            if request.path in _CREATES and key:
                self._keys[key] = next(iter(answer.values()))["id"]
            return web.json_response(answer, status=status)
        if request.method == "GET":
            kind, _, ident = request.path.strip("/").partition("/")
            if ident in self.store and kind in ("payments", "mandates", "billing_requests"):
                return web.json_response({kind: self.store[ident]})
            return _error(404, "invalid_api_usage", "Resource not found", "resource_not_found")
        return _error(405, "invalid_api_usage", "Method not allowed", "method_not_allowed")

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/payments":
            return 201, {"payments": self._create_payment(_envelope(body, "payments"))}
        if path == "/billing_requests":
            return 201, {"billing_requests": self._create_br(_envelope(body, "billing_requests"))}
        if path == "/billing_request_flows":
            flow = self._create_flow(_envelope(body, "billing_request_flows"))
            return 201, {"billing_request_flows": flow}
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "billing_requests" and parts[2] == "actions":
            br = self.store.get(parts[1])
            if br is None:
                raise _Invalid(
                    "invalid_api_usage",
                    [{"reason": "resource_not_found", "message": "Resource not found"}],
                )
            self._action(br, parts[3], _envelope(body, "data"))
            return 200, {"billing_requests": br}
        raise _Invalid("invalid_api_usage", [{"reason": "path_not_found", "message": path}])

    # POST /payments (#payments-create-a-payment)
    def _create_payment(self, p: dict[str, Any]) -> dict[str, Any]:
        errors = []
        if not isinstance(p.get("amount"), int) or p["amount"] < 1:
            errors.append(_field("amount", "must be a whole number of at least 1", "payments"))
        if p.get("currency") not in SCHEME_CURRENCY.values():
            errors.append(_field("currency", "is not a supported currency", "payments"))
        mandate_id = (p.get("links") or {}).get("mandate")
        if not mandate_id:
            errors.append(_field("links.mandate", "is required", "payments"))
        if errors:
            raise _Invalid("validation_failed", errors)
        mandate = self.store.get(mandate_id or "")
        if mandate is None:
            raise _Invalid(
                "invalid_api_usage",
                [{"reason": "invalid_document_structure", "message": "mandate not found"}],
            )
        if mandate["status"] in ("cancelled", "failed", "expired", "blocked", "consumed"):
            raise _Invalid(
                "invalid_state",
                [{"reason": "mandate_is_inactive", "message": "The mandate is inactive"}],
            )
        payment = {
            "id": self._new("PM"),
            "created_at": CREATED_AT,
            "charge_date": "2026-03-06",
            "amount": p["amount"],
            "amount_refunded": 0,
            "currency": p["currency"],
            "description": p.get("description"),
            "status": "pending_submission",
            "reference": None,
            "metadata": p.get("metadata") or {},
            "retry_if_possible": True,
            "links": {"mandate": mandate_id, "creditor": "CR123"},
        }
        self.store[payment["id"]] = payment
        return payment

    # POST /billing_requests (#billing-requests-create-a-billing-request)
    def _create_br(self, p: dict[str, Any]) -> dict[str, Any]:
        mandate_request, payment_request = p.get("mandate_request"), p.get("payment_request")
        if not mandate_request and not payment_request:
            raise _Invalid(
                "validation_failed",
                [_field("mandate_request", "or payment_request is required", "billing_requests")],
            )
        ident = self._new("BRQ")
        br: dict[str, Any] = {
            "id": ident,
            "created_at": CREATED_AT,
            "status": "pending",
            "metadata": p.get("metadata"),
            "mandate_request": None,
            "payment_request": None,
            # An existing customer when the request names one (links[customer]), else a new one.
            "links": {
                "customer": (p.get("links") or {}).get("customer") or self._new("CU"),
                "creditor": "CR123",
            },
            "actions": [],
        }
        if mandate_request:
            scheme = mandate_request.get("scheme")
            if scheme not in SCHEME_CURRENCY:
                raise _Invalid(
                    "validation_failed",
                    [
                        _field(
                            "mandate_request.scheme",
                            "is not a supported scheme",
                            "billing_requests",
                        )
                    ],
                )
            source = mandate_request.get("authorisation_source", "web")
            if source not in ("web", "telephone", "paper"):
                raise _Invalid(
                    "validation_failed",
                    [
                        _field(
                            "mandate_request.authorisation_source", "is invalid", "billing_requests"
                        )
                    ],
                )
            br["mandate_request"] = {
                "scheme": scheme,
                "currency": SCHEME_CURRENCY[scheme],
                "authorisation_source": source,
                "links": {},
                "metadata": {},
            }
            br["links"]["mandate_request"] = self._new("MRQ")
        if payment_request:
            if not isinstance(payment_request.get("amount"), int):
                raise _Invalid(
                    "validation_failed",
                    [
                        _field(
                            "payment_request.amount", "must be a whole number", "billing_requests"
                        )
                    ],
                )
            br["payment_request"] = payment_request | {"links": {}}
            br["links"]["payment_request"] = self._new("PRQ")
        br["actions"] = [
            {"type": t, "required": True, "status": "pending"}
            for t in ("collect_customer_details", "collect_bank_account", "confirm_payer_details")
        ]
        self.store[ident] = br
        return br

    # POST /billing_request_flows (#billing-requests-create-a-billing-request-flow)
    def _create_flow(self, p: dict[str, Any]) -> dict[str, Any]:
        br_id = (p.get("links") or {}).get("billing_request")
        if br_id not in self.store:
            raise _Invalid(
                "validation_failed",
                [_field("links.billing_request", "is required", "billing_request_flows")],
            )
        ident = self._new("BRF")
        return {
            "id": ident,
            "authorisation_url": f"https://pay-sandbox.gocardless.com/billing/static/flow?id={ident}",
            "created_at": CREATED_AT,
            "expires_at": "2026-03-09T10:15:00.000Z",
            "redirect_uri": p.get("redirect_uri"),
            "exit_uri": p.get("exit_uri"),
            "prefilled_customer": p.get("prefilled_customer"),
            "links": {"billing_request": br_id},
        }

    # POST /billing_requests/:id/actions/:action (#billing-requests-*)
    def _action(self, br: dict[str, Any], action: str, data: dict[str, Any]) -> None:
        actions = {a["type"]: a for a in br["actions"]}
        if action == "fulfil":
            if any(a["status"] != "completed" for a in actions.values()):
                raise _Invalid(
                    "invalid_state",
                    [{"reason": "billing_request_not_ready", "message": "not ready to fulfil"}],
                )
            mandate = self.add_mandate("pending_submission", br["mandate_request"]["scheme"])
            br["links"]["mandate_request_mandate"] = mandate["id"]
            br["status"] = "fulfilled"
            return
        if action not in actions:
            raise _Invalid("invalid_api_usage", [{"reason": "path_not_found", "message": action}])
        if actions[action]["status"] == "completed":
            raise _Invalid(
                "invalid_state",
                [
                    {
                        "reason": "billing_request_action_completed",
                        "message": f"{action} already completed",
                    }
                ],
            )
        if action == "collect_customer_details":
            customer = data.get("customer") or {}
            missing = [f for f in self.required_customer_fields if not customer.get(f)]
            detail = data.get("customer_billing_detail") or {}
            if not detail.get("country_code"):
                missing.append("country_code")
            request = br.get("mandate_request") or {}
            by_phone = request.get("authorisation_source") == "telephone"
            if by_phone and request.get("scheme") == "bacs":
                # Bacs by phone: the payer's postal address is part of the mandate.
                missing += [f for f in ("address_line1", "city", "postal_code")
                            if not detail.get(f)]  # fmt: skip
            if missing:
                raise _Invalid(
                    "validation_failed", [_field(f, "is required", "data") for f in missing]
                )
        elif action == "collect_bank_account":
            self._check_bank_account(data)
        elif action == "confirm_payer_details":
            pending = [
                a
                for a in ("collect_customer_details", "collect_bank_account")
                if actions[a]["status"] != "completed"
            ]
            if pending:
                raise _Invalid(
                    "invalid_state",
                    [{"reason": "billing_request_not_ready", "message": f"{pending[0]} first"}],
                )
        actions[action]["status"] = "completed"
        if all(a["status"] == "completed" for a in actions.values()):
            br["status"] = "ready_to_fulfil"

    def _check_bank_account(self, data: dict[str, Any]) -> None:
        required = ["account_holder_name", "country_code"]
        if not data.get("iban"):
            required.append("account_number")
            country = data.get("country_code")
            required += {"GB": ["branch_code"], "US": ["bank_code", "account_type"]}.get(
                country or "", ["bank_code"]
            )
        missing = [f for f in required if not data.get(f)]
        if missing:
            raise _Invalid("validation_failed", [_field(f, "is required", "data") for f in missing])


class _Invalid(Exception):
    def __init__(self, kind: str, errors: list[dict[str, Any]]) -> None:
        self.kind, self.errors = kind, errors


def _envelope(body: dict[str, Any], name: str) -> dict[str, Any]:
    inner = body.get(name)
    if not isinstance(inner, dict) or set(body) != {name}:
        raise _Invalid(
            "invalid_api_usage",
            [{"reason": "invalid_document_structure", "message": f"expected a {name!r} envelope"}],
        )
    return inner


def _field(name: str, message: str, envelope: str) -> dict[str, Any]:
    return {
        "field": name,
        "message": message,
        "request_pointer": f"/{envelope}/{name.replace('.', '/')}",
    }


def _validation(errors: list[dict[str, Any]]) -> web.Response:
    return web.json_response(
        {
            "error": {
                "type": "validation_failed",
                "code": 422,
                "message": "Validation failed",
                "request_id": "req-fake",
                "errors": errors,
                "documentation_url": "https://developer.gocardless.com/api-reference#validation_failed",
            }
        },
        status=422,
    )


def _error(status: int, kind: str, message: str, reason: str, **extra: Any) -> web.Response:
    return web.json_response(
        {
            "error": {
                "type": kind,
                "code": status,
                "message": message,
                "request_id": "req-fake",
                "documentation_url": f"https://developer.gocardless.com/api-reference#{reason}",
                "errors": [{"reason": reason, "message": message} | extra],
            }
        },
        status=status,
    )


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Webhook-Signature: hex HMAC-SHA256 of the raw body with the endpoint's secret
    (https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
