"""`AriConnection`: the events WebSocket for our Stasis app, kept open for as long as we run.

One reader task turns frames into typed events and puts them on a bounded queue; one
dispatcher task hands them to the handlers one at a time, in socket order, so a slow handler
delays later events but never reorders them. The reader keeps reading (and answering pings)
while handlers work; if the queue fills it waits, and says so in the log.

When the socket drops, or Asterisk restarts, the supervisor reconnects with exponential
back-off (initial, doubling, capped, with jitter). Each (re)connect puts a marker on the same
queue, so the `on_connected` callbacks run after every event of the old socket and before
any of the new one: that is where the call flow resynchronises (lists channels and bridges,
reconciles what it missed). `connected` (and `wait_connected`) means the socket is open and
those callbacks have run: the call flow is in sync. A callback that fails (Asterisk too slow
to list its channels, say) leaves that socket out of sync, so it is closed and the supervisor
connects again, with the back-off growing until a connect is followed by a resync that works.
Malformed or unknown frames are logged and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from pbx.ari.client import AriClient
from pbx.ari.errors import AriAuthError, AriError, AriUnavailable, MalformedEvent
from pbx.ari.events import ApplicationReplaced, Event, UnknownEvent, parse_event
from pbx.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
STOP_GRACE_S = 5.0  # how long `stop` lets a handler at work finish
ConnectedCallback = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Connected:
    """Queue marker: socket number `generation` is open; run the `on_connected` callbacks."""

    generation: int


class Backoff:
    """initial, 2×initial, 4×initial ... capped at `maximum`, each shortened by up to
    `jitter` of itself so a fleet restarted together does not reconnect in lockstep."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        jitter: float = 0.2,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("back-off needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        base = min(self.maximum, self.initial * 2**self._attempt)
        if base < self.maximum:  # stop growing the exponent once capped (no overflow)
            self._attempt += 1
        return base * (1 - self.jitter * self._rng())

    def reset(self) -> None:
        self._attempt = 0


class AriConnection:
    """Owns `GET {url}/events?app={app}` and delivers typed events to async handlers."""

    def __init__(
        self,
        client: AriClient,
        *,
        reconnect_initial: float,
        reconnect_max: float,
        heartbeat: float = 20.0,
        queue_size: int = 1000,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._client = client
        self._metrics = metrics  # told of every drop and failed connect (ARI reconnects)
        self._backoff = Backoff(reconnect_initial, reconnect_max)
        self._heartbeat = heartbeat
        self._queue_size = queue_size
        self._queue: asyncio.Queue[Event | _Connected] = asyncio.Queue(queue_size)
        self._handlers: list[tuple[EventHandler, frozenset[type[Event]] | None]] = []
        # Event types to decode (and to have Asterisk send at all); None: every type.
        self._wanted: frozenset[str] | None = frozenset({"ApplicationReplaced"})
        self._connected_callbacks: list[ConnectedCallback] = []
        self._connected = asyncio.Event()  # socket open and its callbacks have run
        self._generation = 0  # which socket is current: counts successful connects
        self._socket_open = False
        self._socket: aiohttp.ClientWebSocketResponse | None = None  # the one being read
        # Said once when the handlers fall behind and once when they catch up: a warning
        # per event would add logging to an overloaded process.
        self._behind = False
        self._tasks: list[asyncio.Task[None]] = []
        # Between two items the dispatcher may be stopped; within one it is let finish.
        self._between_items = asyncio.Event()
        self._between_items.set()
        self._stopping = False

    def on_event(self, handler: EventHandler, *types: type[Event]) -> EventHandler:
        """Register a handler for these event types, or for every typed event if none are
        named (usable as a decorator), before `start`. Events that no handler wants are not
        sent by Asterisk (an app event filter) nor decoded past their type: of the twenty-odd
        types Asterisk sends, the call flow reads a handful."""
        wanted = frozenset(types) or None
        self._handlers.append((handler, wanted))
        if wanted is None or self._wanted is None:
            self._wanted = None
        else:
            self._wanted |= {cls.__name__ for cls in wanted}
        return handler

    def on_connected(self, callback: ConnectedCallback) -> ConnectedCallback:
        """Register a callback run after every (re)connect, before that socket's events."""
        self._connected_callbacks.append(callback)
        return callback

    @property
    def connected(self) -> bool:
        """True while the events socket is open and its `on_connected` callbacks have run:
        the call flow is in sync with Asterisk (while False, an HTTP API answers 503)."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 - part of the API
        """Return once `connected`; `AriUnavailable` if not within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise AriUnavailable(
                f"ARI events socket not connected within {timeout:g} s", path="/events"
            ) from None

    async def start(self) -> None:
        """Start connecting in the background; returns at once (see `wait_connected`)."""
        if self._tasks:
            return
        self._queue = asyncio.Queue(self._queue_size)  # nothing stale from a previous run
        self._backoff.reset()
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="ari-events-dispatch"),
            asyncio.create_task(self._supervise(), name="ari-events-socket"),
        ]

    async def stop(self) -> None:
        """Close the socket and end both tasks; events still queued are dropped (the next
        start resynchronises through `on_connected`). A handler at work is let finish (for
        up to `STOP_GRACE_S`): cut short, it could leave a database transaction open."""
        tasks, self._tasks = self._tasks, []
        self._stopping = True
        if asyncio.current_task() not in tasks:  # (a handler stopping us cannot wait for itself)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_S):
                    await self._between_items.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._stopping = False
        self._socket_open = False
        self._connected.clear()

    # --- the socket -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                socket = await self._client.connect_events(heartbeat=self._heartbeat)
            except AriError as exc:
                await self._retry_later(exc)
                continue
            self._socket = socket
            try:
                await self._filter_events()
                await self._read(socket)
                reason = f"socket closed (code {socket.close_code})"
            except Exception as exc:  # a bug in the reader must not end reconnecting
                log.exception("ARI events reader failed")
                reason = f"reader failed ({type(exc).__name__})"
            finally:
                self._socket_open = False
                self._socket = None
                self._connected.clear()
                await socket.close()
            await self._retry_later(reason)

    async def _retry_later(self, reason: AriError | str) -> None:
        self._metrics.ari_reconnect()
        delay = self._backoff.next()
        level = logging.ERROR if isinstance(reason, AriAuthError) else logging.WARNING
        log.log(
            level,
            "ARI events for app %s: %s; reconnecting in %.2f s",
            self._client.app,
            reason,
            delay,
            extra={"ari_retry_delay": delay},
        )
        await asyncio.sleep(delay)

    async def _filter_events(self) -> None:
        """Have Asterisk send only the types a handler wants, set on every connect (the filter
        is the app's, and a restarted Asterisk has forgotten it). Events that come before it
        takes hold are skipped here, as they always are."""
        allowed = () if self._wanted is None else sorted(self._wanted)
        try:
            await self._client.filter_events(allowed)
        except AriError as exc:  # an Asterisk older than 13.26: unwanted types still come
            log.warning("ARI event filter not set, every event type will be sent: %s", exc)

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._generation += 1
        self._socket_open = True
        log.info("ARI events connected: %s app %s", self._client.url, self._client.app)
        await self._enqueue(_Connected(self._generation))
        async for message in socket:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                event = _decode(message.data, self._wanted)
                if event is not None:
                    await self._enqueue(event)
            elif message.type is aiohttp.WSMsgType.ERROR:
                log.warning("ARI events socket error: %s", socket.exception())
                return

    async def _enqueue(self, item: Event | _Connected) -> None:
        if self._queue.full() and not self._behind:
            self._behind = True
            log.warning(
                "ARI event handlers are behind: %d events waiting; reading paused",
                self._queue.qsize(),
            )
        await self._queue.put(item)

    # --- the handlers ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            item = await self._queue.get()
            if self._stopping:
                return
            self._between_items.clear()
            try:
                await self._handle(item)
            finally:
                self._between_items.set()

    async def _handle(self, item: Event | _Connected) -> None:
        if self._behind and self._queue.qsize() <= self._queue_size // 2:
            self._behind = False
            log.info("ARI event handlers caught up: %d events waiting", self._queue.qsize())
        if isinstance(item, _Connected):
            synced = await self._run_connected_callbacks()
            current = item.generation == self._generation and self._socket_open
            if current and synced:
                self._backoff.reset()  # only a connect that ends in sync starts it afresh
                self._connected.set()
            elif current and self._socket is not None:
                log.warning("ARI events out of sync after connecting: closing to connect again")
                await self._socket.close()
        else:
            await self._deliver(item)

    async def _run_connected_callbacks(self) -> bool:
        """Run every callback (one failing does not skip the others); True if all worked."""
        synced = True
        for callback in list(self._connected_callbacks):
            try:
                await callback()
            except Exception:
                log.exception("ARI on_connected callback %s failed", _name(callback))
                synced = False
        return synced

    async def _deliver(self, event: Event) -> None:
        for handler, wanted in list(self._handlers):
            if wanted is not None and type(event) not in wanted:
                continue
            try:
                await handler(event)
            except Exception:  # one handler's bug must not lose the event for the others
                log.exception("ARI event handler %s failed on %s", _name(handler), event.type)


def _decode(data: str | bytes, wanted: frozenset[str] | None) -> Event | None:
    """The typed event in a frame, or None for one to skip (logged unless it is only not
    wanted). Never logs the frame itself: it may carry DTMF digits of a card number."""
    try:
        event = parse_event(data, wanted)
        if event is None:
            return None
    except MalformedEvent as exc:
        log.warning("skipping malformed ARI event: %s", exc.message)
        return None
    if isinstance(event, UnknownEvent):
        log.debug("skipping ARI event %s", event.event_type)
        return None
    if isinstance(event, ApplicationReplaced):
        log.warning("another ARI socket took over app %s", event.application)
    return event


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", repr(fn))
