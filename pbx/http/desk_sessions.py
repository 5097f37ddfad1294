"""The sessions behind this process's desk sockets, checked together: each socket watches its
session's token here, and every `every_s` one read checks them all
(`SessionStore.still_signed_in`); the sockets of a session that ended (signed out, expired,
idle too long, the user deactivated) are told, and close. One statement an interval for the
process, not one read a socket: at 500 desks the sockets' own reads, about 8 a second, were
a quarter of the owning process's CPU when calls were few.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pbx.auth.sessions import SessionStore

log = logging.getLogger(__name__)

CHECK_EVERY_S = 30.0  # a signed-out user's desk closes within this


class DeskSessions:
    def __init__(self, sessions: SessionStore, every_s: float = CHECK_EVERY_S) -> None:
        self._sessions = sessions
        self.every_s = every_s
        self._watched: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, token: str) -> asyncio.Event:
        """An event set once the session of `token` has ended (until `unwatch`)."""
        ended = asyncio.Event()
        self._watched.setdefault(token, set()).add(ended)
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="desk-sessions")
        return ended

    def unwatch(self, token: str, ended: asyncio.Event) -> None:
        watching = self._watched.get(token)
        if watching is not None:
            watching.discard(ended)
            if not watching:
                del self._watched[token]
        if not self._watched and self._task is not None:  # no desk left: no checks
            self._task.cancel()
            self._task = None

    def watched(self) -> int:
        return len(self._watched)

    async def check(self) -> None:
        """Check every session watched, now; tell the sockets of those that ended."""
        tokens = list(self._watched)
        if not tokens:
            return
        held = await self._sessions.still_signed_in(tokens)
        for token in tokens:
            if token not in held:
                for ended in self._watched.pop(token, ()):
                    ended.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.check()
            except Exception:  # the database away: the sockets stay, checked next time
                log.exception("desk sessions not checked; again in %.0f s", self.every_s)
