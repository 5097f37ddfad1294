"""`AsteriskSimulator`: the server, its lifecycle (restart, network blips) and the scripted
world around it (callers, agents' phones, a looped-back trunk).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from aiohttp import web

from pbx.simulator.ari import dialplan as dialplan_module
from pbx.simulator.ari import rest, rest_bridges, rest_channels, rest_media, scripts
from pbx.simulator.ari.events import EventHub
from pbx.simulator.ari.model import Asterisk
from pbx.simulator.ari.sounds import SoundLibrary
from pbx.simulator.ari.state import Party

# (method, path under /ari, query parameters, HTTP status)
AriRequest = tuple[str, str, dict[str, str], int]


class AsteriskSimulator:
    """An Asterisk 22 speaking ARI (REST + events WebSocket) with scripted callers and agents."""

    def __init__(
        self,
        username: str = "ledgerline",
        password: str = "secret",
        *,
        asterisk_id: str = "02:fc:00:00:00:01",
        timing: scripts.Timing | None = None,
        dialplan: dialplan_module.Dialplan | None = None,
        channelvars: Sequence[str] = (),
    ) -> None:
        self.username = username
        self.password = password
        self.asterisk_id = asterisk_id
        self.timing = timing or scripts.Timing()
        self.dialplan: dict[str, Sequence[dialplan_module.Step]] = dict(
            dialplan or dialplan_module.LEDGERLINE_DIALPLAN
        )
        self.requests: list[AriRequest] = []
        self.agents: dict[str, scripts.Agent] = {}
        self.trunks: dict[str, str] = {}  # looped-back trunk → the context calls come in to
        self.hub = EventHub(asterisk_id, time.time, self._apps_changed)
        self.model = Asterisk(clock=time.time, sink=self.hub.publish)
        self.model.channelvars = frozenset(channelvars)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/ari"

    def build_app(self) -> web.Application:
        """The aiohttp application: every ARI route this simulator serves."""
        registries = [rest_channels.routes, rest_bridges.routes, rest_media.routes, rest.system]
        return rest.build_app(self, registries)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._runner = web.AppRunner(
            self.build_app(), handle_signals=False, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        if port == 0:
            server = site._server  # the bound port when 0 was asked for (asyncio or uvloop)
            assert server is not None
            port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._port = port

    async def stop(self) -> None:
        await self._cancel_tasks()
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, down_seconds: float = 0.0) -> None:
        """Asterisk restarts: sockets close, calls and bridges are gone, connections are
        refused for `down_seconds`, then it is back, empty (stored recordings survive)."""
        await self.stop()
        self.model.reset()
        await asyncio.sleep(down_seconds)
        await self.start(self._host, self._port)

    async def drop_event_sockets(self) -> None:
        """The events sockets drop (a network blip); calls and bridges carry on."""
        await self.hub.close_all()

    async def settled(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a test helper
        """Wait until nothing scheduled is pending (dialplans, ringing, DTMF, media)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.wait(set(self._tasks))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _apps_changed(self, registered: set[str], subscribe_all: set[str]) -> None:
        self.model.registered = registered
        self.model.subscribe_all = subscribe_all

    # --- the world around Asterisk ------------------------------------------------------

    @property
    def sounds(self) -> SoundLibrary:
        """The sound files Asterisk has, per language (every sound until a test says not)."""
        return self.model.sounds

    def agent(
        self,
        endpoint: str,
        answer_after: float | None = 1.0,
        *,
        reject: bool = False,
        busy: bool = False,
        silent: bool = False,
    ) -> scripts.Agent:
        """How the phone at `endpoint` (e.g. PJSIP/1001) treats calls ARI places to it."""
        agent = scripts.Agent(endpoint, answer_after, reject=reject, busy=busy, silent=silent)
        self.agents[endpoint] = agent
        return agent

    def loopback_trunk(self, name: str, context: str = "from-pstn") -> None:
        """Calls out through PJSIP/<exten>@<name> come back in to `context` (as captured)."""
        self.trunks[name] = context

    async def incoming_call(
        self,
        did: str,
        caller_number: str,
        caller_name: str = "",
        *,
        app: str = "ledgerline",
        args: Sequence[str] = (),
        variables: Mapping[str, str] | None = None,
        endpoint: str = "PJSIP/pstn-trunk",
        context: str = "from-pstn",
    ) -> scripts.Call:
        """A caller dials `did` on the trunk: the channel runs `context` (caller lookup sets
        `variables`) up to Stasis(app,args). With no events socket for `app`, Stasis() fails
        and the call is returned marked failed (and hung up: it never reached Ledgerline)."""
        tech, _, resource = endpoint.partition("/")
        channel = self.model.new_pjsip(
            resource,
            None,
            state="Ring",
            protocol_id=f"{time.time_ns():x}@simulated-trunk",
            caller=Party(caller_name, caller_number),
            context=context,
            exten=did,
        )
        if tech != "PJSIP":
            channel.tech = tech
        outcome = await scripts.run_dialplan(
            self, channel, agi_variables=variables or {}, stasis_app=app, stasis_args=args
        )
        failed = outcome != "stasis"
        if outcome == "stasis_failed":
            self.model.hangup(channel, 16, by_ari=False)
        return scripts.Call(self, channel, failed=failed)
