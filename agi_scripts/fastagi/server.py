"""The FastAGI server: accept Asterisk's connections, route each call to a named handler.

Handlers are plain async functions of an `AGISession`; whatever services they need they get
by closure from the composition root. The server owns only the connection: reading the
environment, choosing the handler, ending the call cleanly whatever the handler did. No session
can take the server down, and `stop()` leaves no task or socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from agi_scripts.fastagi.errors import (
    AGIBadRequest,
    AGIConnectionLost,
    AGIError,
    AGIHangup,
    AGIProtocolError,
    AGITimeout,
)
from agi_scripts.fastagi.protocol import (
    AGIEnvironment,
    normalise_script_name,
    parse_environment,
)
from agi_scripts.fastagi.session import MAX_ENV_BYTES, AGISession, read_environment_block
from pbx.metrics import NO_METRICS, Metrics

Handler = Callable[[AGISession], Awaitable[None]]

logger = logging.getLogger(__name__)

ERROR_VARIABLE = "LL_ERROR"
BUSY_LOG_INTERVAL = 10.0
CLOSE_TIMEOUT = 1.0  # a peer that will not take our last bytes is cut off after this


class Outcome(enum.Enum):
    """How a session ended, for the counters /healthz reports."""

    SERVED = "served"  # the handler ran to its end, or the caller hung up meanwhile
    TIMED_OUT = "timed_out"  # Asterisk went silent (before its environment or mid-call)
    FAILED = "failed"  # bad input, an unknown script, or a bug (each logged once)


class FastAGIServer:
    """Serves `handlers` (by script name, normalised: `caller_lookup` = `caller-lookup`)."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        host: str = "127.0.0.1",
        port: int = 4573,
        idle_timeout: float = 10.0,
        max_sessions: int = 1000,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._handlers = _normalised(handlers)
        self._metrics = metrics  # each session's duration, by script and outcome
        self._host = host
        self._port = port
        self._idle_timeout = idle_timeout
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self._stopping = False
        self.sessions_served = 0
        self.sessions_timed_out = 0
        self.sessions_failed = 0
        self.sessions_rejected = 0
        self._last_busy_log = float("-inf")

    @property
    def port(self) -> int:
        """The port listened on: the one the OS chose when 0 was asked for."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        """Calls being handled now (rejected connections are not counted)."""
        return self._active

    @property
    def listening(self) -> bool:
        """True between a successful start() and stop()."""
        return self._server is not None and self._server.is_serving()

    def counters(self) -> dict[str, int]:
        """Sessions active now, and served, timed out, failed and rejected since start (for
        /healthz)."""
        return {
            "active_sessions": self._active,
            "sessions_served": self.sessions_served,
            "sessions_timed_out": self.sessions_timed_out,
            "sessions_failed": self.sessions_failed,
            "sessions_rejected": self.sessions_rejected,
        }

    async def start(self) -> None:
        """Listen. Raises OSError when the address is taken."""
        self._stopping = False
        # The reader's limit caps every buffered read: an oversize line fails, never grows.
        # The backlog absorbs a burst of calls up to max_sessions (the default 100 would drop
        # SYNs, and each dropped one costs the caller a second's retransmission).
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._port,
            limit=MAX_ENV_BYTES,
            backlog=max(100, min(self._max_sessions, 4096)),
        )
        logger.info("FastAGI listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening, cancel the calls in progress and wait until they are closed."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: the task is tracked before it first runs, so
        # stop() cannot miss a connection accepted just before it closed the listener.
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._stopping:
                return
            if self._active >= self._max_sessions:
                await self._reject_busy(reader, writer)
                return
            self._active += 1
            try:
                self._count(await self._serve(reader, writer))
            except Exception:  # a bug outside any handler: one line, never a lost task
                logger.exception("FastAGI connection failed")
                self._count(Outcome.FAILED)
            finally:
                self._active -= 1
        finally:
            await _close(writer)

    def _count(self, outcome: Outcome) -> None:
        if outcome is Outcome.SERVED:
            self.sessions_served += 1
        elif outcome is Outcome.TIMED_OUT:
            self.sessions_timed_out += 1
        else:
            self.sessions_failed += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Outcome:
        env = await self._read_env(reader, writer)
        if isinstance(env, Outcome):
            return env
        session = AGISession(reader, writer, env, self._idle_timeout)
        handler = self._handlers.get(env.script)
        started, outcome = time.monotonic(), Outcome.FAILED
        try:
            if handler is None:
                await self._refuse_unknown_script(session)
            else:
                outcome = await self._run_handler(handler, session)
        finally:
            # Only registered names label the histogram: a caller's typo adds no series.
            script = env.script if handler is not None else "unknown"
            self._metrics.agi_session(script, outcome.value, time.monotonic() - started)
        return outcome

    async def _read_env(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> AGIEnvironment | Outcome:
        """The call's environment, or how the session ended without one (logged once)."""
        try:
            block = await read_environment_block(reader, self._idle_timeout)
        except AGITimeout as exc:
            logger.debug("FastAGI peer silent before its environment: %s", exc)
            return Outcome.TIMED_OUT
        except AGIConnectionLost as exc:
            logger.debug("FastAGI peer dropped before its environment: %s", exc)
            return Outcome.FAILED
        except AGIProtocolError as exc:  # oversize: the stream is not in step, say nothing
            logger.warning("FastAGI peer sent a bad environment: %s", exc)
            return Outcome.FAILED
        try:
            return parse_environment(block)
        except AGIProtocolError as exc:
            logger.warning("FastAGI peer sent a bad environment: %s", exc)
        # Read whole, so the stream is in step: the dialplan can take its fallback branch.
        unparsed = AGISession(reader, writer, AGIEnvironment.unparsed(), self._idle_timeout)
        await _tell_dialplan(unparsed, "bad-environment")
        return Outcome.FAILED

    async def _run_handler(self, handler: Handler, session: AGISession) -> Outcome:
        """Run the handler to its end. Each way it can fail is logged once and the dialplan
        told where the stream still allows; only a bug in our code logs a traceback."""
        env = session.env
        try:
            await handler(session)
        except AGITimeout as exc:
            logger.info("AGI %s on %s timed out: %s", env.script, env.channel, exc)
            return Outcome.TIMED_OUT
        except (AGIHangup, AGIConnectionLost) as exc:  # how most calls end
            logger.debug("AGI %s on %s ended: %s", env.script, env.channel, exc)
        except AGIBadRequest as exc:
            logger.warning("AGI %s refused on %s: %s", env.script, env.channel, exc)
            await _tell_dialplan(session, exc.error)
            return Outcome.FAILED
        except AGIProtocolError as exc:
            logger.warning("AGI %s on %s: protocol error: %s", env.script, env.channel, exc)
            await _tell_dialplan(session, "protocol-error")
            return Outcome.FAILED
        except Exception:
            logger.exception(
                "AGI %s failed on %s (uniqueid %s)", env.script, env.channel, env.uniqueid
            )
            await _tell_dialplan(session, "internal-error")
            return Outcome.FAILED
        return Outcome.SERVED

    async def _refuse_unknown_script(self, session: AGISession) -> None:
        env = session.env
        logger.warning(
            "no AGI script named %r (request %s, channel %s)", env.script, env.request, env.channel
        )
        with contextlib.suppress(AGIError):
            await session.verbose(f"Ledgerline: no AGI script named {env.script!r}", 1)
            await session.set_variable(ERROR_VARIABLE, "unknown-script")

    async def _reject_busy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Tell the dialplan we are full. The environment is read first: closing a socket
        with unread data resets it, and the reset could destroy our answer in flight."""
        self.sessions_rejected += 1
        env = await self._read_env(reader, writer)
        # Under overload one line per rejected call would bury the log: one every 10 s.
        now = time.monotonic()
        if now - self._last_busy_log >= BUSY_LOG_INTERVAL:
            logger.warning(
                "FastAGI busy (%d sessions): %d calls rejected so far",
                self._max_sessions,
                self.sessions_rejected,
            )
            self._last_busy_log = now
        if not isinstance(env, Outcome):
            await _tell_dialplan(AGISession(reader, writer, env, self._idle_timeout), "busy")


async def _tell_dialplan(session: AGISession, error: str) -> None:
    """Best effort: set LL_ERROR so the dialplan can take its fallback branch."""
    if not session.usable:
        return
    with contextlib.suppress(AGIError):
        await session.set_variable(ERROR_VARIABLE, error)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


def _normalised(handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for name, handler in handlers.items():
        key = normalise_script_name(name)
        if key in table:
            raise ValueError(f"two AGI handlers are named {key!r}")
        table[key] = handler
    return table
