"""The HTTP side of Ledgerline: today /healthz; the agent and admin API grows here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pbx.bootstrap import Services

SERVICES = web.AppKey("services", Services)
AGI_STATUS = web.AppKey("agi_status", Callable[[], dict[str, Any]])
CHECK_TIMEOUT_SECONDS = 2.0


def build_app(services: Services, agi_status: Callable[[], dict[str, Any]]) -> web.Application:
    app = web.Application()
    app[SERVICES] = services
    app[AGI_STATUS] = agi_status
    app.router.add_get("/healthz", healthz)
    return app


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
