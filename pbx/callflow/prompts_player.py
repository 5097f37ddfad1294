"""Play a prompt and know whether the caller heard it.

`PromptsPlayer.play` starts a playback with an id of its own and waits for how it ended:
`done` (Asterisk played it to the end), `failed` (Asterisk could not play it: a missing file
gives PlaybackStarted then PlaybackFinished `failed`, as res_stasis_playback's
`playback_final_update` reports it), `hung_up` (the channel went away first) or `stopped`
(we stopped it, or the call flow is stopping). The answer comes from events, never from
polling: the call flow hands every PlaybackFinished to `finished` and every channel's end to
`channel_gone`. A waiter is removed however its wait ends (an answer, a cancelled task,
`close`), and after a reconnect `resync` settles the playbacks whose end we did not hear.

A media list is one playback, and a list whose middle item fails still ends `done`
(Asterisk carries on with the next item): the first PlaybackFinished decides here, so such
a list is `failed`, but the rest of it still plays while the caller is asked for keys.
Anything that must be heard (a consent script, a card prompt) is played with `play_each`:
one media per playback, each required `done`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pbx.ari import AriClient, AriError
from pbx.ari.errors import AriConflict, AriNotFound

log = logging.getLogger(__name__)

PLAYBACK_PREFIX = "ll-play-"


class PlayOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    HUNG_UP = "hung_up"
    STOPPED = "stopped"

    @property
    def heard(self) -> bool:
        return self is PlayOutcome.DONE


@dataclass
class _Waiter:
    channel_id: str
    media: str
    outcome: asyncio.Future[PlayOutcome] = field(repr=False)
    stopping: bool = False


class PromptsPlayer:
    """Playbacks to callers' channels, each awaited to its outcome."""

    def __init__(self, client: AriClient) -> None:
        self.client = client
        self._waiting: dict[str, _Waiter] = {}  # by playback id

    @property
    def waiting(self) -> int:
        """How many playbacks are awaited (none once every call's prompt has ended)."""
        return len(self._waiting)

    async def play(
        self, channel_id: str, media: str | Sequence[str], *, lang: str | None = None
    ) -> PlayOutcome:
        """Play `media` (one URI, or a list as one playback) and wait for its outcome."""
        uris = (media,) if isinstance(media, str) else tuple(media)
        playback_id = f"{PLAYBACK_PREFIX}{uuid.uuid4().hex}"
        waiter = _Waiter(channel_id, ",".join(uris),
                         asyncio.get_running_loop().create_future())  # fmt: skip
        # registered before the request: PlaybackFinished may come before the 201 does
        self._waiting[playback_id] = waiter
        try:
            try:
                await self.client.play(channel_id, uris, playback_id=playback_id, lang=lang)
            except (AriNotFound, AriConflict):  # gone, or no longer in Stasis for us
                return PlayOutcome.HUNG_UP
            except AriError as exc:
                log.warning("playback of %s to %s not started: %s", waiter.media, channel_id,
                            exc)  # fmt: skip
                return PlayOutcome.FAILED
            outcome = await waiter.outcome
        finally:
            self._waiting.pop(playback_id, None)
        if outcome is PlayOutcome.FAILED:
            log.warning("playback of %s to %s failed (Asterisk could not play it)",
                        waiter.media, channel_id)  # fmt: skip
        return outcome

    async def play_each(
        self, channel_id: str, media: Sequence[str], *, lang: str | None = None
    ) -> PlayOutcome:
        """Each media item as a playback of its own, in order, up to the first that is not
        `done` (whose outcome is returned): `done` means every item was played to the end."""
        for uri in media:
            outcome = await self.play(channel_id, uri, lang=lang)
            if outcome is not PlayOutcome.DONE:
                return outcome
        return PlayOutcome.DONE

    async def stop(self, channel_id: str) -> None:
        """Stop what is being played to `channel_id`; its waiters get `stopped`."""
        for playback_id, waiter in list(self._waiting.items()):
            if waiter.channel_id == channel_id:
                waiter.stopping = True
                with contextlib.suppress(AriError):  # ended meanwhile: its event answers
                    await self.client.stop_playback(playback_id)

    # --- what the call flow hands in ------------------------------------------------------

    def finished(self, playback_id: str, state: str) -> None:
        """A PlaybackFinished: `failed`, or `done` (which a stopped playback reports too)."""
        waiter = self._waiting.get(playback_id)
        if waiter is None:
            return
        if state == "failed":
            self._resolve(waiter, PlayOutcome.FAILED)
        else:
            self._resolve(waiter, PlayOutcome.STOPPED if waiter.stopping else PlayOutcome.DONE)

    def channel_gone(self, channel_id: str) -> None:
        """The channel is hanging up or gone: whatever plays to it was not heard through."""
        for waiter in list(self._waiting.values()):
            if waiter.channel_id == channel_id:
                self._resolve(waiter, PlayOutcome.HUNG_UP)

    async def resync(self, channels: Container[str]) -> None:
        """After a reconnect, with the ids of the channels Asterisk has: a channel gone
        meanwhile hung up; a playback Asterisk no longer has ended while we were not
        listening, and how is unknown, so it does not count as heard (`failed`)."""
        for playback_id, waiter in list(self._waiting.items()):
            if waiter.channel_id not in channels:
                self._resolve(waiter, PlayOutcome.HUNG_UP)
                continue
            try:
                await self.client.get_playback(playback_id)
            except AriNotFound:
                self._resolve(waiter, PlayOutcome.FAILED)
            except AriError as exc:
                log.warning("playback %s not checked after reconnect: %s", playback_id, exc)

    def close(self) -> None:
        """The call flow stops: every wait ends `stopped` (nothing is left waiting)."""
        for waiter in list(self._waiting.values()):
            self._resolve(waiter, PlayOutcome.STOPPED)
        self._waiting.clear()

    @staticmethod
    def _resolve(waiter: _Waiter, outcome: PlayOutcome) -> None:
        if not waiter.outcome.done():
            waiter.outcome.set_result(outcome)
