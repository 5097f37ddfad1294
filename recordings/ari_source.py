"""Asterisk as the pipeline's source of finished recordings, through ARI: the file is fetched
over HTTP (`GET /recordings/stored/{name}/file`), so Asterisk may run on another host."""

from __future__ import annotations

from pbx.ari import AriClient, AriError, AriNotFound
from recordings.pipeline import SourceGone, SourceUnavailable


class AriRecordingSource:
    def __init__(self, client: AriClient) -> None:
        self._client = client

    async def fetch(self, name: str) -> bytes:
        try:
            return await self._client.download_stored(name)
        except AriNotFound as exc:
            raise SourceGone(name) from exc
        except AriError as exc:  # Asterisk away or busy, a transfer cut short
            raise SourceUnavailable(str(exc)) from exc

    async def delete(self, name: str) -> None:
        try:
            await self._client.delete_stored(name)
        except AriNotFound as exc:
            raise SourceGone(name) from exc
        except AriError as exc:
            raise SourceUnavailable(str(exc)) from exc
