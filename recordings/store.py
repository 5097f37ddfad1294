"""The object-store port: where finished recordings are kept.

Adapters: `recordings.local_store.LocalFolderStore` (the embedded default) and
`recordings.s3_store.S3Store` (boto3, any S3-compatible service). The pipeline only ever
talks to this port, so both behave the same to it: a put is all-or-nothing, `stat` tells
what is really stored (size and SHA-256) so an upload can be verified before Asterisk's
copy is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class StoreError(Exception):
    """The store refused a request for a reason a retry will not fix (bad key, no bucket)."""


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a transient error: retry later."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str  # hex, as the store reports it for the stored bytes
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    name: str  # "s3" or "local", kept with each recording's index row

    async def put(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        sha256: str,
        metadata: Mapping[str, str],
    ) -> None:
        """Store the file under `key`, replacing any earlier object; all-or-nothing."""

    async def stat(self, key: str) -> StoredObject | None:
        """What is stored under `key`, or None when nothing is."""

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    async def playback_url(self, key: str, *, expires_in: int) -> str | None:
        """A short-lived URL a browser can fetch the object from, or None when the store
        has no such URLs (the local folder: Ledgerline streams the file itself)."""
