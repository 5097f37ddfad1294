"""The embedded object store: recordings as files under one folder.

Each object is its file plus a sidecar `<name>.meta.json` (content type, SHA-256 at upload,
user metadata). Both are written atomically: a temporary file in the same folder, fsync,
`os.replace`, fsync of the folder, so a crash leaves the old object or the new one, never a
torn one. `stat` hashes the stored bytes themselves rather than trusting the sidecar: the
pipeline deletes Asterisk's copy once `stat().sha256` matches what it uploaded, so that
answer must come from the disk. File work runs in threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from recordings.store import StoredObject, StoreError, StoreUnavailable

SIDECAR_SUFFIX = ".meta.json"
# The same rule as S3Store, so metadata that works on one store works on the other.
_METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_RESERVED_METADATA = {"sha256"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_UNKNOWN_TYPE = "application/octet-stream"
# A full disk or a failing one may recover; a permission problem will not.
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EBUSY}


class LocalFolderStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, key: str) -> Path:
        """The file holding `key`, for the HTTP layer to stream with ranges (it may not exist).
        Raises StoreError for a key that could escape the root."""
        path = (self._root / _checked(key)).resolve()
        if not path.is_relative_to(self._root):  # a symlink on the way leads out
            raise StoreError(f"key {key!r} leads outside the recordings folder")
        return path

    async def put(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        sha256: str,
        metadata: Mapping[str, str],
    ) -> None:
        _check_put(content_type, sha256, metadata)
        sidecar = {"content_type": content_type, "sha256": sha256, "metadata": dict(metadata)}
        await asyncio.to_thread(self._put, key, source, sha256, sidecar)

    async def stat(self, key: str) -> StoredObject | None:
        return await asyncio.to_thread(self._stat, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def playback_url(self, key: str, *, expires_in: int) -> str | None:
        return None  # Ledgerline streams `path_of(key)` itself, after its own access check

    # --- blocking halves ---------------------------------------------------------------------

    def _put(self, key: str, source: Path, sha256: str, sidecar: dict[str, object]) -> None:
        target = self.path_of(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _failure(f"cannot create the folder for {key}", exc) from exc
        try:
            original = open(source, "rb")  # noqa: SIM115 - a failure here is the caller's
        except OSError as exc:
            raise StoreError(f"cannot read {source} to store {key}: {exc.strerror}") from exc
        with original, _replaced_atomically(target, key) as out:
            copied = _copy_hashing(original, out, source)
            if copied != sha256:
                # Changed or cut short since it was hashed: leave the old object in place.
                raise StoreError(f"{source} hashes to {copied}, not {sha256}: {key} not stored")
        with _replaced_atomically(_sidecar(target), key) as out:
            out.write(json.dumps(sidecar, ensure_ascii=False, sort_keys=True).encode())
        _sync_folder(target.parent, key)

    def _stat(self, key: str) -> StoredObject | None:
        path = self.path_of(key)
        try:
            with path.open("rb") as stored:
                size = os.fstat(stored.fileno()).st_size
                sha256 = hashlib.file_digest(stored, "sha256").hexdigest()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None  # a day's folder, not an object
        except OSError as exc:
            raise _failure(f"cannot read {key}", exc) from exc
        sidecar = _read_sidecar(_sidecar(path))
        content_type = sidecar.get("content_type")
        metadata = sidecar.get("metadata")
        return StoredObject(
            key=key,
            size=size,
            sha256=sha256,
            content_type=content_type if isinstance(content_type, str) else _UNKNOWN_TYPE,
            metadata=metadata if isinstance(metadata, dict) else {},
        )

    def _delete(self, key: str) -> None:
        path = self.path_of(key)
        for doomed in (path, _sidecar(path)):
            try:
                doomed.unlink()
            except FileNotFoundError:
                pass
            except IsADirectoryError as exc:
                raise StoreError(f"{key} is a folder, not a recording") from exc
            except OSError as exc:
                raise _failure(f"cannot delete {key}", exc) from exc


def _checked(key: str) -> str:
    """A relative key of plain segments: no `..`, no hidden names (our temporary files start
    with a dot), no backslashes or NULs, and not a sidecar's name."""
    segments = key.split("/")
    if (
        not key
        or len(key.encode()) > 1024
        or "\\" in key
        or "\0" in key
        or any(not part or part.startswith(".") for part in segments)
        or key.endswith(SIDECAR_SUFFIX)
    ):
        raise StoreError(f"key {key!r} is not a recording key")
    return key


def _check_put(content_type: str, sha256: str, metadata: Mapping[str, str]) -> None:
    if not content_type:
        raise StoreError("a recording needs a content type")
    if not _SHA256.fullmatch(sha256):
        raise StoreError(f"sha256 must be 64 lowercase hex digits, not {sha256!r}")
    for name, value in metadata.items():
        if (
            not _METADATA_NAME.fullmatch(name)
            or name in _RESERVED_METADATA
            or not isinstance(value, str)
        ):
            raise StoreError(f"metadata {name!r}: a lowercase name (not sha256) with a text value")


@contextmanager
def _replaced_atomically(target: Path, key: str) -> Iterator[BinaryIO]:
    """A temporary file next to `target` that replaces it only if the block completes."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise _failure(f"cannot write {key}", exc) from exc
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        raise _failure(f"cannot write {key}", exc) from exc
    finally:
        Path(temporary).unlink(missing_ok=True)


def _copy_hashing(original: BinaryIO, out: BinaryIO, source: Path) -> str:
    digest = hashlib.sha256()
    while True:
        try:
            chunk = original.read(_CHUNK)
        except OSError as exc:
            raise StoreError(f"cannot read {source}: {exc.strerror}") from exc
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        out.write(chunk)


def _sync_folder(folder: Path, key: str) -> None:
    """Make the renames durable: without it a power cut can forget them."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise _failure(f"cannot sync the folder of {key}", exc) from exc
    try:
        os.fsync(descriptor)
    except OSError as exc:
        raise _failure(f"cannot sync the folder of {key}", exc) from exc
    finally:
        os.close(descriptor)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _read_sidecar(path: Path) -> dict[str, object]:
    """The sidecar's fields, or none when it is missing or unreadable: the bytes, which
    `stat` hashes itself, are what matter."""
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _failure(what: str, exc: OSError) -> StoreError:
    message = f"{what}: {exc.strerror or exc}"
    return StoreUnavailable(message) if exc.errno in _TRANSIENT_ERRNOS else StoreError(message)
