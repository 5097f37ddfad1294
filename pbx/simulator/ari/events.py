"""The events WebSocket: one socket owns each Stasis app; events go out in model order.

Publishing is synchronous (the model calls it while it changes state) and each socket has
its own queue and writer task, so an event never overtakes one emitted before it. As in
Asterisk 22, a second socket for an app takes the app over: the first gets
ApplicationReplaced and nothing more for that app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from pbx.simulator.ari import render
from pbx.simulator.ari.model import Event


@dataclass(eq=False)
class _Session:
    socket: web.WebSocketResponse
    apps: set[str]
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class EventHub:
    """App name → the socket that owns it, and the fan-out of the model's events."""

    def __init__(
        self,
        asterisk_id: str,
        clock: Callable[[], float],
        on_apps_changed: Callable[[set[str], set[str]], None],
    ) -> None:
        self._asterisk_id = asterisk_id
        self._clock = clock
        self._owners: dict[str, _Session] = {}
        self._sessions: set[_Session] = set()
        self._on_apps_changed = on_apps_changed  # (registered apps, subscribeAll apps)
        self._subscribe_all: set[str] = set()

    @property
    def apps(self) -> set[str]:
        return set(self._owners)

    def publish(self, event: Event) -> None:
        for app in sorted(event.apps):
            session = self._owners.get(app)
            if session is not None:
                body = event.message(app, self._asterisk_id)
                session.queue.put_nowait(json.dumps(body))

    async def serve(
        self, request: web.Request, apps: Sequence[str], subscribe_all: bool
    ) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(protocols=("ari",), autoping=True)
        await socket.prepare(request)
        session = _Session(socket, set(apps))
        self._register(session, subscribe_all)
        writer = asyncio.create_task(self._write(session))
        try:
            async for _ in socket:  # ARI ignores what clients send on this socket
                pass
        finally:
            self._unregister(session)
            session.queue.put_nowait(None)
            await writer
        return socket

    def _register(self, session: _Session, subscribe_all: bool) -> None:
        self._sessions.add(session)
        for app in session.apps:
            previous = self._owners.get(app)
            if previous is not None and previous is not session:
                previous.apps.discard(app)
                replaced = {
                    "type": "ApplicationReplaced",
                    "timestamp": render.asterisk_time(self._clock()),
                    "asterisk_id": self._asterisk_id,
                    "application": app,
                }
                previous.queue.put_nowait(json.dumps(replaced))
            self._owners[app] = session
            if subscribe_all:
                self._subscribe_all.add(app)
            else:
                self._subscribe_all.discard(app)
        self._changed()

    def _unregister(self, session: _Session) -> None:
        self._sessions.discard(session)
        for app in list(session.apps):
            if self._owners.get(app) is session:
                del self._owners[app]
                self._subscribe_all.discard(app)
        self._changed()

    def _changed(self) -> None:
        self._on_apps_changed(set(self._owners), set(self._subscribe_all))

    async def _write(self, session: _Session) -> None:
        while (message := await session.queue.get()) is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.socket.send_str(message)

    async def close_all(self) -> None:
        """Every socket closes, as when Asterisk goes away or the network drops."""
        sessions = list(self._sessions)
        for session in sessions:
            self._unregister(session)
        for session in sessions:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.socket.close(code=WSCloseCode.GOING_AWAY)
