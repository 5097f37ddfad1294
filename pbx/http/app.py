"""The HTTP side of Ledgerline: /healthz and the agent and admin API under /api/v1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pbx.bootstrap import Services
from pbx.http import (
    admin_api,
    auth_api,
    calls_api,
    credits_api,
    recordings_api,
    webhooks_api,
)
from pbx.http.api import PREFIX, Api, ApiError, error_response
from pbx.http.context import CONTEXT, ApiContext, origin_allowed
from pbx.http.desk_socket import desk_socket

STATIC = Path(__file__).with_name("static")
# The desk page loads only its own files and talks only to this server (no CDN, no inline code).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; media-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
SERVICES = web.AppKey("services", Services)
AGI_STATUS = web.AppKey("agi_status", Callable[[], dict[str, Any]])
CHECK_TIMEOUT_SECONDS = 2.0


def build_api() -> Api:
    api = Api("Ledgerline", "1")
    for module in (auth_api, admin_api, calls_api, recordings_api, credits_api, webhooks_api):
        module.register(api)
    return api


def build_app(
    services: Services,
    agi_status: Callable[[], dict[str, Any]],
    api_context: ApiContext | None = None,
) -> web.Application:
    app = web.Application(middlewares=[same_origin_for_cookies, security_headers])
    app[SERVICES] = services
    app[AGI_STATUS] = agi_status
    app[CONTEXT] = api_context or ApiContext(
        services.database, services.sessions, services.login_limiter, services.bus,
        recordings=services.recordings,
        playback_url_seconds=services.settings.recordings.playback_url_seconds,
        agents_play_own=services.settings.recordings.agents_play_own,
    )  # fmt: skip
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", desk_page)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get(PREFIX + "/ws", desk_socket)
    app.router.add_routes(build_api().routes(auth_api.authenticate))
    return app


@web.middleware
async def same_origin_for_cookies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A change authorised by the session cookie must come from our own page (CSRF); a
    bearer token cannot be sent by another site, so it needs no such check."""
    cookie_only = auth_api.COOKIE in request.cookies and "Authorization" not in request.headers
    if cookie_only and request.method not in ("GET", "HEAD", "OPTIONS"):
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


async def healthz(request: web.Request) -> web.Response:
    """Each dependency with its state; 503 when any required one is down, for load balancers."""
    services = request.app[SERVICES]
    checks: dict[str, dict[str, Any]] = {
        "database": await _timed(services.database.ping, backend=services.database.dialect),
        "agi": request.app[AGI_STATUS](),
    }
    if services.redis is not None:
        checks["redis"] = await _timed(services.redis.ping, backend="redis")
    else:
        checks["redis"] = {"ok": True, "mode": "not configured (in-process cache)"}
    flow = request.app[CONTEXT].flow
    if flow is not None:
        checks["asterisk"] = {"ok": flow.ready, "url": flow.client.url}
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return web.json_response(body, status=200 if healthy else 503)


async def _timed(probe: Callable[[], Awaitable[Any]], **facts: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, **facts}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **facts}
