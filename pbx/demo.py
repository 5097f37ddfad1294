"""`ledgerline demo`: the service on embedded defaults, demo data, and demo calls placed by
the simulator's FastAGI peer exactly as Asterisk would place them."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from billing_bridge.money import format_minor
from pbx.bootstrap import build_services, check_dependencies
from pbx.db.migrate import upgrade
from pbx.demo_data import OFEK, SAULE, seed_demo_data
from pbx.service import Ledgerline
from pbx.settings import Settings
from pbx.simulator.fastagi_peer import run_fastagi_call

log = logging.getLogger("ledgerline.demo")
DEFAULT_DATABASE = "sqlite+aiosqlite:///ledgerline.db"

# (dialed number as the trunk sends it, caller ID as the trunk sends it, CALLINGPRES)
DEMO_CALLS: tuple[tuple[str, str, int], ...] = (
    (OFEK.dids[0], "0502345678", 0),  # overdue: to collections
    (OFEK.dids[0], "+972523456789", 0),  # VIP
    (OFEK.dids[1], "0546789012", 0),  # a household's shared number: ambiguous
    (OFEK.dids[0], "00972771234567", 0),  # suspended
    (SAULE.dids[0], "861234567", 0),  # overdue, national form with the old trunk prefix
    (SAULE.dids[0], "+37068712345", 0),  # VIP
    (SAULE.dids[0], "37052345678", 0),  # shared landline, no plus
    (OFEK.dids[0], "anonymous", 0),  # withheld by the caller
    (SAULE.dids[0], "+37061234567", 35),  # number delivered but presentation restricted
    (OFEK.dids[0], "+442079460958", 0),  # nobody we know
)


def demo_settings(settings: Settings, data_dir: Path) -> Settings:
    """Keep the demo's SQLite file in its own folder unless a database was configured."""
    if settings.database.url != DEFAULT_DATABASE:
        return settings
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{data_dir.resolve() / 'ledgerline.db'}"
    database = settings.database.model_copy(update={"url": url})
    return settings.model_copy(update={"database": database})


async def run_demo(settings: Settings, call_every: float, calls: int) -> None:
    services = build_services(settings)
    await check_dependencies(services, require_schema=False)
    await upgrade(services.database)
    if await seed_demo_data(services.database, datetime.now(UTC).date()):
        log.info("demo data written: tenants %s and %s", OFEK.slug, SAULE.slug)
    ledgerline = Ledgerline(services)
    await ledgerline.start()
    http = settings.service
    log.info("health: http://%s:%d/healthz", http.http_host, ledgerline.http_port)
    try:
        await _place_calls(settings.agi.host, ledgerline.agi.port, call_every, calls)
    finally:
        await ledgerline.stop()


async def _place_calls(host: str, port: int, every: float, limit: int) -> None:
    script = itertools.cycle(DEMO_CALLS)
    for placed in itertools.count(1):
        dialed, caller, presentation = next(script)
        started = time.perf_counter()
        call = await run_fastagi_call(
            host, port, "caller-lookup",
            callerid=caller, callingpres=presentation, extension=dialed, args=(dialed,),
        )  # fmt: skip
        elapsed_ms = (time.perf_counter() - started) * 1000
        outcome = describe(call.variables)
        log.info("call from %s to %s: %s (%.1f ms)", caller, dialed, outcome, elapsed_ms)
        if limit and placed >= limit:
            return
        await asyncio.sleep(every)


def describe(variables: dict[str, str]) -> str:
    """What an agent would want to read about the caller, from the LL_* variables."""
    match = variables.get("LL_MATCH", "?")
    if match == "unique":
        owed = format_minor(int(variables["LL_BALANCE_MINOR"]), variables["LL_CURRENCY"])
        return (
            f"{variables['LL_CUSTOMER_NAME']} (customer {variables['LL_CUSTOMER_ID']}), "
            f"owes {owed} {variables['LL_CURRENCY']}, account {variables['LL_ACCOUNT_STATUS']}, "
            f"queue priority {variables['LL_PRIORITY']}"
        )
    if match == "ambiguous":
        return f"{variables.get('LL_CANDIDATES')} customers share this number: agent asks who"
    return f"not identified ({variables.get('LL_REASON') or variables.get('LL_ERROR', '?')})"
