"""`ledgerline demo`: the service on embedded defaults, demo data, and demo calls placed by
the Asterisk simulator: caller lookup over FastAGI as Asterisk's dialplan runs it, then
Stasis(ledgerline), the queue, and an agent's simulated phone."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from billing_bridge.identification import variables
from billing_bridge.identification.model import Match
from billing_bridge.money import format_minor
from pbx.acd.errors import AcdError
from pbx.bootstrap import bootstrap, build_services, check_dependencies
from pbx.db.database import Database
from pbx.db.migrate import upgrade
from pbx.db.models import Call
from pbx.demo_centre import DEMO_PASSWORD, endpoints, seed_demo_centres
from pbx.demo_data import OFEK, SAULE, seed_demo_data
from pbx.service import Ledgerline
from pbx.settings import Settings
from pbx.simulator.ari import AsteriskSimulator
from pbx.simulator.ari.scripts import Call as SimCall
from pbx.simulator.fastagi_peer import run_fastagi_call
from pbx.voice import catalog as voice_catalog
from pbx.voice import store as voice_store

log = logging.getLogger("ledgerline.demo")
DEFAULT_DATABASE = "sqlite+aiosqlite:///ledgerline.db"
SIMULATOR_PASSWORD = "demo-simulator"

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
    """Keep the demo's SQLite file in its own folder unless a database was configured; the
    demo's webhook receivers may be on this machine (http://127.0.0.1:...)."""
    webhooks = settings.webhooks.model_copy(update={"allow_private_http": True})
    settings = settings.model_copy(update={"webhooks": webhooks})
    if settings.database.url != DEFAULT_DATABASE:
        return settings
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{data_dir.resolve() / 'ledgerline.db'}"
    database = settings.database.model_copy(update={"url": url})
    return settings.model_copy(update={"database": database})


async def run_demo(
    settings: Settings, call_every: float, calls: int, talk_seconds: float = 4.0
) -> None:
    """Seed, start Ledgerline against the Asterisk simulator, and place demo calls: each is
    looked up over FastAGI as the dialplan would, enters Stasis, queues, rings an agent's
    simulated phone and is answered; the caller hangs up after `talk_seconds`."""
    sim = AsteriskSimulator("ledgerline", SIMULATOR_PASSWORD)
    await sim.start()
    for number, endpoint in enumerate(endpoints()):
        sim.agent(endpoint, answer_after=1.0 + number % 3)
    settings = _with_simulator(settings, sim.url)
    services = build_services(settings)
    await check_dependencies(services, require_schema=False)
    await upgrade(services.database)
    if await seed_demo_data(services.database, datetime.now(UTC).date()):
        log.info("demo data written: tenants %s and %s", OFEK.slug, SAULE.slug)
    if await seed_demo_centres(services.database):
        log.info("demo queues, agents and routes written")
    await _install_prompts(sim, services.database)
    ledgerline = Ledgerline(bootstrap(services))
    await ledgerline.start()
    flow = ledgerline.flow
    assert flow is not None
    http = settings.service
    log.info("health: http://%s:%d/healthz", http.http_host, ledgerline.http_port)
    log.info("API: http://%s:%d/api/v1 (users admin, dana, avi, noa... password %r); "
             "calls go through the Asterisk SIMULATOR at %s",
             http.http_host, ledgerline.http_port, DEMO_PASSWORD, sim.url)  # fmt: skip
    try:
        await flow.wait_ready(10)
        for agent_id in list(flow.config.agents):
            try:
                await flow.agent_available(agent_id)
            except AcdError as exc:  # busy on a call that is still up: left as they are
                log.warning("agent %s not logged in: %s", agent_id, exc)
        await _place_calls(ledgerline, sim, call_every, calls, talk_seconds)
    finally:
        await ledgerline.stop()
        await sim.stop()


async def _install_prompts(sim: AsteriskSimulator, database: Database) -> None:
    """The simulated Asterisk has what `ledgerline prompts build` writes (every prompt, word
    and the businesses' consent scripts in each language), as the README asks of a real one,
    so /healthz has no prompt to warn about."""
    catalog = voice_catalog.load()
    businesses = await voice_store.businesses(database)
    for language, texts in catalog.texts.items():
        sim.model.sounds.install(language, texts.sounds(businesses))


def _with_simulator(settings: Settings, url: str) -> Settings:
    ari = settings.ari.model_copy(
        update={"url": url, "username": "ledgerline", "password": SIMULATOR_PASSWORD,
                "node": "demo-simulator", "dial_out": "PJSIP/{number}@pstn-trunk"}
    )  # fmt: skip
    return settings.model_copy(update={"ari": ari})


async def _place_calls(
    ledgerline: Ledgerline, sim: AsteriskSimulator, every: float, limit: int, talk: float
) -> None:
    settings = ledgerline.services.settings
    script = itertools.cycle(DEMO_CALLS)
    in_progress: set[asyncio.Task[None]] = set()
    for placed in itertools.count(1):
        dialed, caller, presentation = next(script)
        started = time.perf_counter()
        lookup = await run_fastagi_call(
            settings.agi.host, ledgerline.agi.port, "caller-lookup",
            callerid=caller, callingpres=presentation, extension=dialed, args=(dialed,),
        )  # fmt: skip
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("call from %s to %s: %s (%.1f ms)", caller, dialed,
                 describe(lookup.variables), elapsed_ms)  # fmt: skip
        call = await sim.incoming_call(_digits(dialed), caller, variables=lookup.variables)
        task = asyncio.create_task(_converse(ledgerline, call, caller, talk))
        in_progress.add(task)
        task.add_done_callback(in_progress.discard)
        if limit and placed >= limit:
            break
        await asyncio.sleep(every)
    if in_progress:
        await asyncio.gather(*in_progress)


async def _converse(ledgerline: Ledgerline, call: SimCall, caller: str, talk: float) -> None:
    """The caller waits for an agent (at most a minute), talks, hangs up; then the log."""
    flow = ledgerline.flow
    assert flow is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and call.state != "Hungup":
        live = flow.state.calls.get(call.channel_id)
        if live is not None and live.answered_at is not None:
            name = flow.config.agents.get(live.agent_id or "")
            log.info("%s is talking to %s", caller, name.name if name else live.agent_id)
            await asyncio.sleep(talk)
            break
        await asyncio.sleep(0.2)
    await call.hangup()
    for _ in range(50):
        if call.channel_id not in flow.state.calls:
            break
        await asyncio.sleep(0.1)
    log.info("%s: %s", caller, await _outcome(ledgerline, call.channel_id))


async def _outcome(ledgerline: Ledgerline, channel_id: str) -> str:
    async with ledgerline.services.database.system_session() as session:
        row = await session.scalar(select(Call).where(Call.channel_id == channel_id))
    if row is None:
        return "not logged (the number is not served)"
    return (f"call log: outcome {row.outcome or '-'}, waited {row.wait_seconds or 0} s, "
            f"talked {row.talk_seconds or 0} s")  # fmt: skip


def _digits(dialed: str) -> str:
    return "".join(ch for ch in dialed if ch.isdigit() or ch == "+")


def describe(told: dict[str, str]) -> str:
    """What an agent would want to read about the caller, from the LL_* variables."""
    try:
        identity = variables.decode(told)
    except variables.MalformedIdentity as exc:
        return f"not identified (caller-lookup's variables malformed: {exc})"
    if identity is None:
        return f"not identified ({told.get('LL_ERROR', '?')})"
    if identity.match is Match.UNIQUE and identity.customer_id is not None:
        owed = format_minor(identity.balance_minor or 0, identity.currency)
        return (
            f"{identity.customer_name} (customer {identity.customer_id}), "
            f"owes {owed} {identity.currency}, account {identity.account_status}, "
            f"queue priority {identity.priority}"
        )
    if identity.match is Match.AMBIGUOUS:
        return f"{identity.candidates} customers share this number: agent asks who"
    reason = identity.reason.value if identity.reason else told.get("LL_ERROR", "?")
    return f"not identified ({reason})"
