"""Tests of the ARI client: codec, REST, events socket, and conformance to Asterisk's spec."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from tests.fixtures import ARI_SPEC as SPEC  # noqa: F401 (the tests import it from here)
from tests.fixtures import CAPTURES


def captured(kind: str) -> list[dict[str, Any]]:
    """Every line of the captures' `ari-<kind>-*.jsonl` files, in order."""
    return [
        json.loads(line)
        for path in sorted(CAPTURES.glob(f"ari-{kind}-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """A peer of the test's own on a real loopback socket; yields its base URL (…/ari)."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/ari"
    finally:
        await runner.cleanup()
