"""The running service: the FastAGI server and the HTTP API over one set of services."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from billing_bridge.collection.job import run_collection
from billing_bridge.collections import sweep as promise_sweep
from billing_bridge.ingest import idempotency
from billing_bridge.reminders import planner as reminder_planner
from billing_bridge.worklist import store as worklist_store
from pbx.bootstrap import Application
from pbx.callflow.app import utc_now
from pbx.desk.remote import topic as desk_topic
from pbx.http.app import build_app
from pbx.http.context import CONFIG_TOPIC
from pbx.http.metrics_api import MetricsPage
from pbx.metrics.prometheus import CONTENT_TYPE
from pbx.voice import catalog as voice_texts
from pbx.voice import store as voice_store
from pbx.voice.presence import PromptsOnAsterisk
from recordings.retention import purge_expired

log = logging.getLogger(__name__)
WARM_SECONDS = 10.0  # at most this long at start readying the caller lookup's connections
GC_YOUNG_EVERY = 20_000  # allocations between young collections (CPython's default: 700)


class Ledgerline:
    """Starts, serves and stops what the composition root (`pbx.bootstrap`) built."""

    def __init__(self, application: Application) -> None:
        services = self.services = application.services
        self.publisher, self.payments = application.publisher, application.payments
        self.sender, self.agi, self.flow = application.sender, application.agi, application.flow
        self.ownership = application.ownership
        self.recording_sources = application.recording_sources
        self.recordings = application.recordings
        self.desk_server = application.desk_server
        self.webhooks = application.webhooks
        self.reminders = application.reminders
        self.board = application.board
        self._background: list[asyncio.Task[None]] = []
        assert application.context is not None
        prompts = None if self.flow is None else PromptsOnAsterisk(
            voice_texts.load(), self.flow.client.sounds,
            functools.partial(voice_store.languages_in_use, services.database),
        )  # fmt: skip
        metrics = MetricsPage(services.metrics, services.settings.service.metrics_token,
                              CONTENT_TYPE)  # fmt: skip
        app = build_app(services, self.agi_status, application.context,
                        call_flow_status=self.call_flow_status if self.ownership else None,
                        prompts_status=prompts.warning if prompts else None,
                        metrics=metrics)  # fmt: skip
        self._runner = web.AppRunner(app, access_log=None)
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        settings = self.services.settings.service
        identification = self.services.identification

        async def forget_dids(message: dict[str, Any]) -> None:
            # A number added, moved or a business disabled: FastAGI asks the database anew.
            identification.forget_dids()

        self.services.bus.subscribe(CONFIG_TOPIC, forget_dids)
        if self.flow is not None:
            flow = self.flow

            async def reload(message: dict[str, Any]) -> None:
                await flow.reload_config()

            self.services.bus.subscribe(CONFIG_TOPIC, reload)
            if self.desk_server is not None and self.ownership is not None:
                topic = desk_topic(self.ownership.node)
                self.services.bus.subscribe(topic, self.desk_server.handle)
        await self.publisher.start()
        if self.recordings is not None:
            self._background.append(asyncio.create_task(self.recordings.run(), name="recordings"))
        config = self.services.settings
        if self.services.recordings is not None:
            purge = self._every(config.recordings.purge_every_minutes, "recordings purge",
                                self._purge, at_start=True)  # fmt: skip
            self._background.append(asyncio.create_task(purge, name="recordings-purge"))
        # Not at start: restarting a process must not be what charges customers.
        collect = self._every(config.payments.collect_every_minutes, "collection",
                              self._collect, at_start=False)  # fmt: skip
        self._background.append(asyncio.create_task(collect, name="collection"))
        promises = self._every(promise_sweep.EVERY_MINUTES, "promises sweep",
                               self._sweep_promises, at_start=True)  # fmt: skip
        self._background.append(asyncio.create_task(promises, name="promises-sweep"))
        if self.reminders is not None:
            remind = self._every(config.messages.reminders_every_minutes, "reminders",
                                 self._remind, at_start=True)  # fmt: skip
            self._background.append(asyncio.create_task(remind, name="reminders"))
        # Not at start: a process taking over the calls spends its first seconds on them, and
        # the worklists it would build are in the database already (a supervisor can ask).
        worklists = self._every(worklist_store.EVERY_MINUTES, "worklists", self._build_worklists,
                                at_start=False)  # fmt: skip
        self._background.append(asyncio.create_task(worklists, name="worklists"))
        keys = self._every(60, "idempotency keys purge", self._purge_keys, at_start=True)
        self._background.append(asyncio.create_task(keys, name="idempotency-keys-purge"))
        if self.webhooks is not None and self.services.settings.webhooks.enabled:
            self.webhooks.start()
        if self.ownership is not None:
            await self.ownership.start()
        await self.services.bus.start()
        await self._warm_lookups()
        await self.agi.start()
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, settings.http_host, settings.http_port)
        await self._site.start()
        log.info(
            "Ledgerline listening: FastAGI agi://%s:%d, HTTP http://%s:%d",
            self.services.settings.agi.host,
            self.agi.port,
            settings.http_host,
            self.http_port,
        )

    async def _warm_lookups(self) -> None:
        """The caller lookup's connections and statements ready before FastAGI listens. It
        is only a head start: with the database away or slow now, the first lookups open
        what they need as before, and this process starts all the same."""
        try:
            async with asyncio.timeout(WARM_SECONDS):
                await self.services.identification.warm()
        except Exception as exc:  # anything the database may raise at start, or the timeout
            log.warning("caller lookup not warmed at start (%s: %s); the first lookups will "
                        "open their connections", type(exc).__name__, exc)  # fmt: skip

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.agi.stop()
        await self._runner.cleanup()
        if self.webhooks is not None:
            await self.webhooks.stop()  # attempts in flight finish, or their leases run out
        if self.ownership is not None and self.flow is not None:
            await self.ownership.stop()  # calls' work in flight drains, then the lease goes
            await self.flow.client.close()
        if self.recording_sources is not None:
            await self.recording_sources.close()
        await self.publisher.stop()
        if self.board is not None:
            await self.board.stop()
        close_sender = getattr(self.sender, "close", None)  # the SMS gateway's HTTP session
        if close_sender is not None:
            await close_sender()
        close = getattr(self.payments, "aclose", None)  # Stripe's HTTP session
        if close is not None:
            await close()
        await self.services.close()

    async def _every(
        self, minutes: float, name: str, job: Callable[[], Awaitable[str | None]],
        *, at_start: bool,
    ) -> None:  # fmt: skip
        """Run `job` every `minutes` (and at once if `at_start`); a failure is logged and
        tried next time (both jobs are safe to run again, and in several processes at once)."""
        if not at_start:
            await asyncio.sleep(minutes * 60)
        while True:
            try:
                summary = await job()
                if summary:
                    log.info("%s: %s", name, summary)
            except Exception:  # the database away, a provider down: next time
                log.exception("%s failed", name)
            await asyncio.sleep(minutes * 60)

    async def _purge(self) -> str | None:
        """Recordings past their business's retention (legal holds keep them)."""
        assert self.services.recordings is not None
        report = await purge_expired(self.services.database, self.services.recordings,
                                     now=utc_now())  # fmt: skip
        return str(report) if report.purged or report.failed or report.interrupted else None

    async def _purge_keys(self) -> str | None:
        """Machine clients' idempotency keys past their 24 hours."""
        purged = await idempotency.purge_expired(self.services.database, utc_now())
        return f"{purged} expired" if purged else None

    async def _sweep_promises(self) -> str | None:
        """Promises and plan instalments unpaid at the end of their date: broken."""
        report = await promise_sweep.sweep(self.services.database, utc_now())
        return str(report) if report.promises_broken or report.instalments_failed else None

    async def _build_worklists(self) -> str | None:
        """Every business's collections worklist built again from its rules."""
        built = await worklist_store.build_all(self.services.database, utc_now())
        listed = sum(report.listed for report in built.values())
        removed = sum(report.removed for report in built.values())
        return f"{listed} listed, {removed} removed" if listed or removed else None

    async def _remind(self) -> str | None:
        """The day's reminders planned, then those that may go now sent, and the pay links of
        pay-link plans' instalments coming due."""
        assert self.reminders is not None
        now = utc_now()
        planned = await reminder_planner.plan(self.services.database, now)
        sent = await self.reminders.send_due(now)
        links = await self.reminders.send_instalment_links(now)
        if not (planned.planned or sent.sent or sent.stopped or sent.listed or sent.failed
                or links.sent or links.failed):  # fmt: skip
            return None
        return f"{planned}; {sent}; {links}"

    async def _collect(self) -> str | None:
        """Due invoices charged from active mandates and cards on file."""
        try:
            report = await run_collection(self.services.database, self.payments, node="serve")
        except Exception:
            self.services.metrics.collection_run("failed")
            raise
        self.services.metrics.collection_run("completed")
        total = report.total
        if not (total.collected.count or total.failed.count or total.skipped.count):
            return None
        return " / ".join(line.strip() for line in report.summary_lines())

    @property
    def http_port(self) -> int:
        assert self._site is not None and self._site._server is not None
        return self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def call_flow_status(self) -> dict[str, Any]:
        """Owner or standby of this node's call flow, and who owns each node."""
        assert self.ownership is not None
        nodes = list(self.services.settings.ari.other_nodes)
        return await self.ownership.status(self.services.redis, nodes)

    def agi_status(self) -> dict[str, Any]:
        return {"ok": self.agi.listening, "port": self.agi.port, **self.agi.counters()}


def tune_collector_for_serving() -> None:
    """Once start-up is done. What it built (modules, mappings, configuration) lives as long
    as the process: kept out of the collector's full passes, which then take a fraction of
    the time they would (each pass stalls every call's events). And a young pass every
    20,000 new objects instead of 700: at 100 calls/s the default ran hundreds of passes
    and five full ones (70 ms each, every call's events waiting) in half a minute; now a few
    dozen and one, with under half the time spent collecting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_EVERY, 10, 10)


async def run_until_stopped(ledgerline: Ledgerline) -> None:
    """Serve until SIGINT or SIGTERM, then finish the sessions in flight and close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await ledgerline.start()
    tune_collector_for_serving()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await ledgerline.stop()
