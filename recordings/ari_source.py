"""Asterisk as the pipeline's source of finished recordings, through ARI: the file is fetched
over HTTP (`GET /recordings/stored/{name}/file`), so Asterisk may run on another host.

With several Asterisk nodes a recording is on the node that made it (its row's `node`), and
any process may work its job: `AriRecordingSources` holds an ARI client per node, built by
the composition root from settings, and the pipeline fetches and deletes through the one
the row names.
"""

from __future__ import annotations

from collections.abc import Mapping

from pbx.ari import AriClient, AriError, AriNotFound
from recordings.pipeline import RecordingSource, SourceGone, SourceUnavailable


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


class AriRecordingSources:
    """One ARI source per Asterisk node. `default` serves rows that name no node (recorded
    before rows kept it: the only node there was)."""

    def __init__(self, clients: Mapping[str, AriClient], default: str) -> None:
        if default not in clients:
            raise ValueError(f"no ARI client for the default node {default!r}")
        self._clients = dict(clients)
        self._sources = {node: AriRecordingSource(client) for node, client in clients.items()}
        self.default = default

    @classmethod
    def single(cls, node: str, client: AriClient) -> AriRecordingSources:
        """One Asterisk node (tests, the demo)."""
        return cls({node: client}, default=node)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def of(self, node: str | None) -> RecordingSource:
        """The node's source; `SourceUnavailable` if this process has no client for it (the
        node is missing from `ari.other_nodes` here: another process, or a fixed setting,
        can still do the job)."""
        source = self._sources.get(node or self.default)
        if source is None:
            raise SourceUnavailable(f"no ARI connection to node {node!r} (ari.other_nodes)")
        return source

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

