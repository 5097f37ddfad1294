"""The HTTP side of Ledgerline: /healthz and the agent and admin API under /api/v1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from redis.asyncio import Redis

from pbx.db.database import Database
from pbx.http import (
    admin_api,
    api_keys_api,
    auth_api,
    billing_api,
    board_api,
    calls_api,
    collections_api,
    credits_api,
    events_api,
    links_api,
    platform_api,
    reconciliation_api,
    recordings_api,
    reminders_api,
    reports_api,
    webhook_subscriptions_api,
    webhooks_api,
    worklist_api,
)
from pbx.http.api import PREFIX, SECURE_COOKIES, Api, ApiError, error_response
from pbx.http.context import CONTEXT, ApiContext, origin_allowed
from pbx.http.desk_socket import desk_socket
from pbx.http.metrics_api import MetricsPage, add_route
from pbx.http.proxies import client_address, forwarded_https, is_trusted

STATIC = Path(__file__).with_name("static")
# The desk page loads only its own files and talks only to this server (no CDN, no inline code).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; media-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


class Dependencies(Protocol):
    """What /healthz checks: the composition root's services (the HTTP layer does not import
    the root that builds it)."""

    database: Database
    redis: Redis | None


SERVICES = web.AppKey("services", Dependencies)
AGI_STATUS = web.AppKey("agi_status", Callable[[], dict[str, Any]])
CallFlowStatus = Callable[[], Awaitable[dict[str, Any]]]
CALL_FLOW_STATUS = web.AppKey("call_flow_status", CallFlowStatus)
# The prompts Asterisk lacks (pbx.voice.presence, cached): a warning, never a 503.
PromptsStatus = Callable[[], Awaitable[dict[str, Any] | None]]
PROMPTS_STATUS = web.AppKey("prompts_status", PromptsStatus)
CHECK_TIMEOUT_SECONDS = 2.0


def build_api() -> Api:
    api = Api("Ledgerline", "1")
    # Subscriptions before the providers' `/webhooks/{provider}`, which would take their path.
    for module in (auth_api, admin_api, calls_api, recordings_api, credits_api,
                   webhook_subscriptions_api, webhooks_api, links_api, platform_api,
                   api_keys_api, billing_api, reconciliation_api, events_api,
                   collections_api, reminders_api, reports_api, board_api,
                   worklist_api):  # fmt: skip
        module.register(api)
    return api


def build_app(
    services: Dependencies,
    agi_status: Callable[[], dict[str, Any]],
    api_context: ApiContext,
    *,
    call_flow_status: CallFlowStatus | None = None,
    prompts_status: PromptsStatus | None = None,
    metrics: MetricsPage | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[client_behind_proxies, same_origin_for_cookies, security_headers]
    )
    app[SERVICES] = services
    app[AGI_STATUS] = agi_status
    if call_flow_status is not None:
        app[CALL_FLOW_STATUS] = call_flow_status
    if prompts_status is not None:
        app[PROMPTS_STATUS] = prompts_status
    app[CONTEXT] = api_context
    app.on_startup.append(_start_password_workers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/owner", owner_ready)
    if metrics is not None:
        add_route(app, metrics)
    app.router.add_get("/", desk_page)
    app.router.add_get("/board", board_page)
    app.router.add_get("/reports", reports_page)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get(PREFIX + "/ws", desk_socket)
    app.router.add_routes(build_api().routes(auth_api.authenticate))
    return app


async def _start_password_workers(app: web.Application) -> None:
    """Before the first sign-in: spawning them then would stall the loop serving calls."""
    app[CONTEXT].sessions.passwords.start()


@web.middleware
async def client_behind_proxies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Through one of our trusted proxies, the request carries the client's own address
    (`request.remote`: the sign-in limits, the audit log) and scheme (https: Secure cookies);
    from anyone else, X-Forwarded-* headers are ignored."""
    ctx = request.app[CONTEXT]
    trusted, peer = ctx.trusted_proxies, request.remote
    if trusted and is_trusted(peer, trusted):
        headers = request.headers
        address = client_address(peer, headers.getall("X-Forwarded-For", []), trusted)
        https = forwarded_https(peer, headers.getall("X-Forwarded-Proto", []), trusted)
        request = request.clone(remote=address, scheme="https" if https else request.scheme)
    request[SECURE_COOKIES] = request.secure or ctx.force_secure_cookie
    return await handler(request)


@web.middleware
async def same_origin_for_cookies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A change that the session cookie could authorise must come from our own page (CSRF).
    Only a request that a valid bearer token authenticates is spared the check (another
    site cannot send one; the cookie is then ignored): any other Authorization header is
    no reason to skip it."""
    cookie = auth_api.COOKIE in request.cookies
    if (
        cookie
        and request.method not in ("GET", "HEAD", "OPTIONS")
        and await auth_api.bearer_principal(request) is None
    ):
        origin = request.headers.get("Origin")
        if origin is None or not origin_allowed(request, origin):
            return error_response(ApiError(403, "bad_origin", "cross-site request refused"))
    return await handler(request)


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    else:
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


async def desk_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def board_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "board.html")


async def reports_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "reports.html")


async def healthz(request: web.Request) -> web.Response:
    """Each dependency with its state; 503 when any required one is down, for load balancers.
    A standby (another process owns this Asterisk's call flow) is healthy: it serves desks
    and the API and takes over if the owner dies; `asterisk` says which it is and who owns
    each node. `/healthz/owner` is the stricter signal, for the owner only. `warnings`
    (not a failure) lists prompts Asterisk lacks, per language."""
    services = request.app[SERVICES]
    checks: dict[str, dict[str, Any]] = {
        "database": await _timed(services.database.ping, backend=services.database.dialect),
        "agi": request.app[AGI_STATUS](),
    }
    if services.redis is not None:
        checks["redis"] = await _timed(services.redis.ping, backend="redis")
    else:
        checks["redis"] = {"ok": True, "mode": "not configured (in-process cache)"}
    asterisk = await _call_flow(request)
    if asterisk is not None:
        checks["asterisk"] = asterisk
    healthy = all(check["ok"] for check in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if asterisk is not None:
        body["role"] = asterisk["role"]
    prompts = request.app.get(PROMPTS_STATUS)
    missing_prompts = await prompts() if prompts is not None else None
    if missing_prompts is not None:  # callers would hear silence; the service is still up
        body["warnings"] = {"prompts": missing_prompts}
    return web.json_response(body, status=200 if healthy else 503)


async def owner_ready(request: web.Request) -> web.Response:
    """200 only while this process owns its Asterisk's call flow and is connected and in
    sync with it; 503 for a standby, an owner still connecting, or no Asterisk configured."""
    asterisk = await _call_flow(request)
    if asterisk is None:
        return web.json_response({"status": "no call flow", "role": None}, status=503)
    ready = asterisk["role"] == "owner" and asterisk["connected"]
    body = {"status": "ok" if ready else "unavailable", "role": asterisk["role"],
            "node": asterisk["node"]}  # fmt: skip
    return web.json_response(body, status=200 if ready else 503)


async def _call_flow(request: web.Request) -> dict[str, Any] | None:
    """The call flow's part of the health: owner or standby, from the ownership when the
    service runs one; a bare flow (no ownership) is its own owner."""
    flow = request.app[CONTEXT].flow
    if flow is None:
        return None
    status = request.app.get(CALL_FLOW_STATUS)
    if status is not None:
        return await status()
    return {"ok": flow.ready, "role": "owner", "node": flow.snapshots.node,
            "connected": flow.ready, "url": flow.client.url}  # fmt: skip


async def _timed(probe: Callable[[], Awaitable[Any]], **facts: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, **facts}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **facts}
