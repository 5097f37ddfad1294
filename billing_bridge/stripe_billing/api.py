"""What the sync reads from Stripe, on the official SDK (async methods).

Endpoints (https://docs.stripe.com/api): GET /v1/customers and GET /v1/invoices (status,
created[gte]) page by page, `limit` 100 each, the next page `starting_after` the last id of
the one before while `has_more` is true (https://docs.stripe.com/api/pagination); GET
/v1/invoices/:id for an invoice kept open here that the listing no longer shows. Errors are
re-raised with our own words (status, code, request id), never Stripe's free text. The
client is opened as the payment provider's is (`payments.stripe_client`: the SDK's DEBUG
records, which carry bodies, dropped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import stripe

from billing_bridge.payments.port import ProviderError, ProviderUnavailable
from billing_bridge.payments.stripe_client import open_client

PAGE = 100  # the most Stripe returns in one page


class StripeBillingApi:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        self._client, self._http = open_client(
            api_key, api_base=api_base, max_network_retries=max_network_retries,
            timeout=timeout,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._http.close_async()

    def customers(self, *, created_gte: int | None = None) -> AsyncIterator[dict[str, Any]]:
        return self._pages("customers", _created(created_gte))

    def invoices(
        self, status: str, *, created_gte: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        return self._pages("invoices", {"status": status} | _created(created_gte))

    async def invoice(self, stripe_id: str) -> dict[str, Any]:
        try:
            return (await self._client.v1.invoices.retrieve_async(stripe_id)).to_dict()
        except stripe.StripeError as exc:
            raise _translate(exc, "retrieve invoice") from None

    async def _pages(self, kind: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        service = getattr(self._client.v1, kind)
        after: str | None = None
        while True:
            page_params = params | {"limit": PAGE} | ({"starting_after": after} if after else {})
            try:
                page = (await service.list_async(page_params)).to_dict()
            except stripe.StripeError as exc:
                raise _translate(exc, f"list {kind}") from None
            data = page.get("data")
            if not isinstance(data, list):
                raise ProviderError(f"stripe list {kind}: the answer has no data list")
            for obj in data:
                if isinstance(obj, dict):
                    yield obj
            if not page.get("has_more") or not data:
                return
            after = data[-1].get("id") if isinstance(data[-1], dict) else None
            if not isinstance(after, str):
                raise ProviderError(f"stripe list {kind}: the last object has no id")


def _created(gte: int | None) -> dict[str, Any]:
    return {"created": {"gte": gte}} if gte is not None else {}


def _translate(exc: stripe.StripeError, operation: str) -> ProviderError:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    parts = [f"stripe {operation}: {type(exc).__name__}"]
    if exc.http_status:
        parts.append(f"http {exc.http_status}")
    if isinstance(error, dict) and error.get("code"):
        parts.append(f"code {error['code']}")
    if exc.request_id:
        parts.append(f"request {exc.request_id}")
    status = exc.http_status or 0
    transient = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
    if transient or status >= 500 or status == 429:
        return ProviderUnavailable(", ".join(parts))
    return ProviderError(", ".join(parts))
