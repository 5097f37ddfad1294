"""This installation's own secret: generated on first use, stored, never shipped.

A key that signs what one process vouches for and another checks (the screen-pop token) must
be the same in every process of a deployment and unknown outside it. So it is never a
constant in the code or in `config/defaults.toml`: the first process to need it generates 32
random bytes and stores them where every other process finds them, in Redis when Redis is
configured (every process of a deployment shares it), else in a file only the service's user
may read (`service.secret_file`; one process, and it survives restarts).

Each use derives its own key (`derive(purpose)`), so one stored secret serves several
purposes without one's tokens being valid for another.

A Redis that lost its data (no persistence, flushed) gets a new secret from whichever
process asks next; the others read it again after `REDIS_CACHE_S`, or at once through
`reload()` when a token does not verify, so a deployment agrees again within a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis

SECRET_BYTES = 32
REDIS_KEY = "ll:installation-secret"
REDIS_CACHE_S = 60.0
RELOAD_EVERY_S = 5.0  # a storm of bad tokens reads the secret again at most this often


class SecretError(Exception):
    """The stored secret cannot be read or is not one we generated (too short, not hex)."""


class InstallationSecret(Protocol):
    async def get(self) -> bytes:
        """The secret (loaded or generated on first use, then cached)."""

    async def reload(self) -> bytes:
        """The secret as stored now (at most every `RELOAD_EVERY_S`; else the cached one)."""


def derive(secret: bytes, purpose: str) -> bytes:
    """The key for one purpose: a token signed for one cannot pass as another's."""
    return hmac.new(secret, b"ledgerline:" + purpose.encode(), hashlib.sha256).digest()


def _decode(text: str, where: str) -> bytes:
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        raise SecretError(f"{where} does not hold a hex secret") from None
    if len(value) < SECRET_BYTES:
        raise SecretError(f"{where} holds {len(value)} bytes; at least {SECRET_BYTES} needed")
    return value


class MemorySecret:
    """A secret held by one process alone, random for each unless given: for a process whose
    tokens no other process checks (a benchmark's server, a test). `serve` never uses it."""

    def __init__(self, value: bytes | None = None) -> None:
        self.value = value if value is not None else secrets.token_bytes(SECRET_BYTES)

    async def get(self) -> bytes:
        return self.value

    async def reload(self) -> bytes:
        return self.value


class FileSecret:
    """The secret in a file, created with mode 0600 the first time (atomically: two processes
    starting together end up with the same one)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._value: bytes | None = None
        self._loaded_at = float("-inf")

    async def get(self) -> bytes:
        if self._value is None:
            self._value = self._load_or_create()
            self._loaded_at = self._clock()
        return self._value

    async def reload(self) -> bytes:
        if self._clock() - self._loaded_at >= RELOAD_EVERY_S:
            self._value = None
        return await self.get()

    def _load_or_create(self) -> bytes:
        try:
            return _decode(self._path.read_text(encoding="ascii"), str(self._path))
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"cannot read {self._path}: {exc}") from None
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = self._path.with_name(f".{self._path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(SECRET_BYTES) + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: theirs
                os.link(draft, self._path)
        finally:
            os.unlink(draft)
        return _decode(self._path.read_text(encoding="ascii"), str(self._path))


class RedisSecret:
    """The secret in Redis, shared by every process of the deployment: the first to need it
    sets it (`SET NX`), everybody reads what is there."""

    def __init__(
        self, redis: Redis, key: str = REDIS_KEY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._redis = redis
        self._key = key
        self._clock = clock
        self._value: bytes | None = None
        self._loaded_at = float("-inf")

    async def get(self) -> bytes:
        if self._value is None or self._clock() - self._loaded_at >= REDIS_CACHE_S:
            await self._load()
        assert self._value is not None
        return self._value

    async def reload(self) -> bytes:
        if self._clock() - self._loaded_at >= RELOAD_EVERY_S:
            await self._load()
        return await self.get()

    async def _load(self) -> None:
        stored = await self._redis.get(self._key)
        if stored is None:
            await self._redis.set(self._key, secrets.token_hex(SECRET_BYTES), nx=True)
            stored = await self._redis.get(self._key)
        if stored is None:
            raise SecretError(f"Redis did not keep {self._key}")
        text = stored.decode("ascii", "replace") if isinstance(stored, bytes) else str(stored)
        self._value = _decode(text, f"Redis key {self._key}")
        self._loaded_at = self._clock()
