"""The production object store: S3, or any S3-compatible service, through boto3.

boto3 blocks, so every call runs in a thread (`asyncio.to_thread`); a boto3 client is
thread-safe, so one is shared. Failures come out as the port's two errors: StoreUnavailable
when a retry later may work (no connection, timeouts, 5xx, throttling), StoreError when it
will not (no bucket, access denied, a bad request). Messages name the bucket and key, never
credentials.

Integrity: `put` refuses a file that does not hash to the SHA-256 it is given, then sends that
SHA-256 as the object's checksum (x-amz-checksum-sha256), which S3 verifies against the bytes
it receives and reports on `stat`; it is also kept as user metadata `sha256` for services that
do not support checksums (and for moto, which stores the header without verifying it).

Metadata values travel as HTTP headers, which must be ASCII: every value is percent-encoded
(UTF-8) on the way in and decoded on the way out, so a Hebrew customer name round-trips and an
ASCII value without `%` or spaces looks the same in the S3 console.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from recordings.media import content_type_for
from recordings.store import StoredObject, StoreError, StoreUnavailable

MAX_SINGLE_PUT = 5 * 2**30  # S3's limit for one PUT; a call recording is a few megabytes
MAX_METADATA_BYTES = 2048  # S3's limit for all user metadata together
MAX_URL_LIFETIME = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
SERVER_SIDE_ENCRYPTIONS = ("AES256", "aws:kms", "aws:kms:dsse")
_METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # no "_": proxies drop such headers
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_IN_METADATA = "-_.~!$&'()*+,;=:@/"  # printable, unambiguous; "%" and spaces are encoded
# The codes botocore's standard retry mode treats as transient or throttling, and S3's own.
_TRANSIENT_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "SlowDown",
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "InternalError", "ServiceUnavailable", "OperationAborted",
})  # fmt: skip

DEFAULT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "total_max_attempts": 3},
    signature_version="s3v4",
    max_pool_connections=20,
)


@dataclass(frozen=True)
class S3Credentials:
    """Explicit keys; without them boto3's chain (environment, profile, instance role) runs."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class S3Store:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        credentials: S3Credentials | None = None,
        server_side_encryption: str | None = "AES256",
        kms_key_id: str | None = None,
        prefix: str = "",
        checksums: bool = True,
        config: Config | None = None,
    ) -> None:
        """`endpoint_url` for an S3-compatible service (path-style addressing then, as MinIO
        and Ceph expect); `server_side_encryption` None for a service that refuses the header;
        `checksums` False for one without x-amz-checksum-* support (the SHA-256 is then kept
        only as metadata, which the service does not verify); `config` is merged over
        DEFAULT_CONFIG (5 s to connect, 30 s to read, standard retries, 3 attempts), each
        option it sets replacing the default whole (`retries` too)."""
        if server_side_encryption not in (*SERVER_SIDE_ENCRYPTIONS, None):
            known = ", ".join(SERVER_SIDE_ENCRYPTIONS)
            raise ValueError(f"server_side_encryption {server_side_encryption!r}: not {known}")
        if kms_key_id and not (server_side_encryption or "").startswith("aws:kms"):
            raise ValueError("kms_key_id needs server_side_encryption 'aws:kms'")
        self.bucket = bucket
        self._prefix = prefix.strip("/")
        self._encryption: dict[str, str] = {}
        if server_side_encryption:
            self._encryption["ServerSideEncryption"] = server_side_encryption
        if kms_key_id:
            self._encryption["SSEKMSKeyId"] = kms_key_id
        self._checksums = checksums
        effective = DEFAULT_CONFIG
        if endpoint_url:
            effective = effective.merge(Config(s3={"addressing_style": "path"}))
        if not checksums:  # else botocore adds a CRC32 that such a service rejects
            effective = effective.merge(
                Config(
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
            )
        if config is not None:
            effective = effective.merge(config)
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id if credentials else None,
            aws_secret_access_key=credentials.secret_access_key if credentials else None,
            aws_session_token=credentials.session_token if credentials else None,
            region_name=region,
        )
        self._client = session.client("s3", endpoint_url=endpoint_url, config=effective)

    def close(self) -> None:
        """Close the pooled connections (at shutdown)."""
        self._client.close()

    async def put(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        sha256: str,
        metadata: Mapping[str, str],
    ) -> None:
        if not _SHA256.fullmatch(sha256):
            raise StoreError(f"sha256 must be 64 lowercase hex digits, not {sha256!r}")
        if not content_type:
            raise StoreError("a recording needs a content type")
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._object_key(key),
            "ContentType": content_type,
            "Metadata": {**_encoded(metadata), "sha256": sha256},
            **self._encryption,
        }
        if self._checksums:
            request["ChecksumAlgorithm"] = "SHA256"
            request["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
        await asyncio.to_thread(self._put, request, source, sha256)

    async def stat(self, key: str) -> StoredObject | None:
        return await asyncio.to_thread(self._stat, key, self._object_key(key))

    async def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        await asyncio.to_thread(
            self._call, "delete_object", object_key, Bucket=self.bucket, Key=object_key
        )

    async def playback_url(self, key: str, *, expires_in: int) -> str | None:
        if not 1 <= expires_in <= MAX_URL_LIFETIME:
            raise ValueError(f"expires_in must be 1..{MAX_URL_LIFETIME} s, not {expires_in}")
        object_key = self._object_key(key)
        params = {"Bucket": self.bucket, "Key": object_key}
        content_type = content_type_for(key)
        if content_type:
            params["ResponseContentType"] = content_type
        return await asyncio.to_thread(
            self._call, "generate_presigned_url", object_key,
            ClientMethod="get_object", Params=params, ExpiresIn=expires_in,
        )  # fmt: skip

    # --- blocking halves ---------------------------------------------------------------------

    def _put(self, request: dict[str, Any], source: Path, sha256: str) -> None:
        where = self._where(request["Key"])
        try:
            body = source.open("rb")
        except OSError as exc:
            raise StoreError(f"cannot read {source} to store {where}: {exc.strerror}") from exc
        with body:
            try:
                size = os.fstat(body.fileno()).st_size
                actual = hashlib.file_digest(body, "sha256").hexdigest()
                body.seek(0)
            except OSError as exc:
                raise StoreError(f"cannot read {source}: {exc.strerror}") from exc
            if size > MAX_SINGLE_PUT:
                raise StoreError(f"{source} is {size} bytes, over one PUT's limit")
            if actual != sha256:
                raise StoreError(f"{source} hashes to {actual}, not {sha256}: {where} not stored")
            self._call("put_object", request["Key"], Body=body, **request)

    def _stat(self, key: str, object_key: str) -> StoredObject | None:
        extra = {"ChecksumMode": "ENABLED"} if self._checksums else {}
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=object_key, **extra)
        except ClientError as exc:
            if _status(exc) != 404:
                raise _translated(exc, self._where(object_key)) from exc
            # HEAD answers carry no error code: a 404 is "no such key" or "no such bucket".
            self._check_bucket()
            return None
        except BotoCoreError as exc:
            raise _translated(exc, self._where(object_key)) from exc
        metadata = _decoded(head.get("Metadata", {}))
        claimed = metadata.pop("sha256", "")
        return StoredObject(
            key=key,
            size=int(head["ContentLength"]),
            sha256=_hex_checksum(head.get("ChecksumSHA256")) or claimed,
            content_type=head.get("ContentType", "application/octet-stream"),
            metadata=metadata,
        )

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _status(exc) == 404:
                raise StoreError(f"s3://{self.bucket}: NoSuchBucket") from exc
            raise _translated(exc, f"s3://{self.bucket}") from exc
        except BotoCoreError as exc:
            raise _translated(exc, f"s3://{self.bucket}") from exc

    def _call(self, operation: str, object_key: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, self._where(object_key)) from exc

    def _object_key(self, key: str) -> str:
        segments = key.split("/")
        if (
            not key
            or any(part in ("", ".", "..") for part in segments)
            or any(ord(char) < 32 or ord(char) == 127 for char in key)
        ):
            raise StoreError(f"key {key!r} is not a recording key")
        object_key = f"{self._prefix}/{key}" if self._prefix else key
        if len(object_key.encode()) > 1024:
            raise StoreError(f"key {key!r} is longer than S3 allows")
        return object_key

    def _where(self, object_key: str) -> str:
        return f"s3://{self.bucket}/{object_key}"


def _encoded(metadata: Mapping[str, str]) -> dict[str, str]:
    encoded = {}
    for name, value in metadata.items():
        if not _METADATA_NAME.fullmatch(name) or name == "sha256" or not isinstance(value, str):
            raise StoreError(f"metadata {name!r}: a lowercase name (not sha256) with a text value")
        encoded[name] = quote(value, safe=_SAFE_IN_METADATA)
    size = sum(len(name) + len(value) for name, value in encoded.items()) + 6 + 64  # + sha256
    if size > MAX_METADATA_BYTES:
        raise StoreError(f"metadata is {size} bytes encoded, over S3's {MAX_METADATA_BYTES}")
    return encoded


def _decoded(metadata: Mapping[str, str]) -> dict[str, str]:
    return {name: unquote(value) for name, value in metadata.items()}


def _hex_checksum(checksum: str | None) -> str | None:
    """S3's base64 SHA-256 as hex; None for a multipart object's checksum of checksums."""
    if not checksum or "-" in checksum:
        return None
    try:
        digest = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _translated(exc: ClientError | BotoCoreError, where: str) -> StoreError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = _status(exc)
        code = str(error.get("Code") or status)
        message = f"{where}: {code} {error.get('Message') or ''}".rstrip()
        if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
            return StoreUnavailable(message)
        return StoreError(message)
    if isinstance(exc, ConnectionError | HTTPClientError | CredentialRetrievalError):
        # No connection, connect or read timeout, connection reset, IMDS briefly away.
        return StoreUnavailable(f"{where}: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreError(f"{where}: no usable S3 credentials configured")
    return StoreError(f"{where}: {exc}")
