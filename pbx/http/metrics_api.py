"""`GET /metrics`: this process's Prometheus text exposition (`docs/metrics.md`).

Served to loopback freely (a Prometheus or an agent on the same machine), and from anywhere
else only with `Authorization: Bearer <service.metrics_token>`; with no token configured,
loopback only. A token that is given must be right, loopback or not. The peer is the TCP
peer, or the client a trusted proxy names (`client_behind_proxies` ran first), so a proxy
on this machine does not make the world loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from pbx.http.api import ApiError, error_response


class Exposition(Protocol):
    """What renders the metrics (`pbx.metrics.prometheus.ProcessMetrics`)."""

    async def render(self) -> bytes: ...


@dataclass(frozen=True)
class MetricsPage:
    exposition: Exposition
    token: str  # empty: loopback only
    content_type: str


METRICS_PAGE = web.AppKey("metrics_page", MetricsPage)
ASK = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def add_route(app: web.Application, page: MetricsPage) -> None:
    app[METRICS_PAGE] = page
    app.router.add_get("/metrics", metrics)


async def metrics(request: web.Request) -> web.Response:
    page = request.app[METRICS_PAGE]
    refusal = _refusal(request, page.token)
    if refusal is not None:
        return error_response(refusal)
    body = await page.exposition.render()
    return web.Response(body=body, headers={"Content-Type": page.content_type,
                                            "Cache-Control": "no-store"})  # fmt: skip


def _refusal(request: web.Request, token: str) -> ApiError | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not token or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return ApiError(401, "bad_token", "the metrics token is not right", headers=ASK)
        return None
    if is_loopback(request.remote):
        return None
    if not token:
        return ApiError(403, "loopback_only", "metrics are served on loopback only")
    return ApiError(401, "token_required", "metrics need the bearer token from here",
                    headers=ASK)


def is_loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
