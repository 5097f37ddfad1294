from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botocore.config import Config
from moto.server import ThreadedMotoServer

from recordings.s3_store import S3Store
from recordings.store import StoreError, StoreUnavailable
from tests.s3 import CREDENTIALS, REGION

KEY = "acme/2026/03/09/42.opus"
METADATA = {"tenant": "acme", "call": "42", "customer": "דנה כהן", "agent": "Dana 100%"}
# One attempt each, so an error surfaces at once (production keeps botocore's standard
# retries). Only the test of a peer that never answers waits less for a reply than the
# in-process server may take on a loaded machine.
ONE_TRY = Config(connect_timeout=0.5, read_timeout=10, retries={"total_max_attempts": 1})
IMPATIENT = Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1})


def recording(folder: Path, content: bytes = b"OggS" + bytes(range(256)) * 40) -> Path:
    path = folder / "upload.opus"
    path.write_bytes(content)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def put(store: S3Store, source: Path, key: str = KEY, sha256: str | None = None) -> None:
    await store.put(
        key, source, content_type="audio/ogg", sha256=sha256 or sha256_of(source),
        metadata=METADATA,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_try_store(endpoint: str, bucket: str = "recordings", config: Config = ONE_TRY) -> S3Store:
    return S3Store(
        bucket, region=REGION, endpoint_url=endpoint, credentials=CREDENTIALS, config=config
    )


async def test_put_then_stat_reports_the_size_and_checksum_of_the_stored_bytes(
    s3_store: S3Store, tmp_path: Path
) -> None:
    source = recording(tmp_path)

    await put(s3_store, source)

    stored = await s3_store.stat(KEY)
    assert stored is not None
    assert (stored.key, stored.size, stored.sha256) == (
        KEY, source.stat().st_size, sha256_of(source),
    )  # fmt: skip
    assert stored.content_type == "audio/ogg"
    assert stored.metadata == METADATA


async def test_the_sha256_travels_as_the_objects_checksum_and_as_metadata(
    s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    source = recording(tmp_path)

    await put(s3_store, source)

    head = s3_client.head_object(Bucket=bucket, Key=KEY, ChecksumMode="ENABLED")
    digest = hashlib.sha256(source.read_bytes())
    assert head["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()
    assert head["Metadata"]["sha256"] == digest.hexdigest()


async def test_stat_trusts_the_services_checksum_over_the_metadata(
    s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    content = b"the bytes S3 received"
    s3_client.put_object(
        Bucket=bucket, Key=KEY, Body=content, ChecksumAlgorithm="SHA256",
        ChecksumSHA256=base64.b64encode(hashlib.sha256(content).digest()).decode(),
        Metadata={"sha256": "0" * 64},  # what some uploader claimed
    )  # fmt: skip

    stored = await s3_store.stat(KEY)

    assert stored is not None and stored.sha256 == hashlib.sha256(content).hexdigest()


async def test_without_checksum_support_the_sha256_is_kept_as_metadata(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    store = S3Store(
        bucket, region=REGION, endpoint_url=s3_endpoint, credentials=CREDENTIALS,
        checksums=False,
    )  # fmt: skip
    source = recording(tmp_path)

    await put(store, source)

    assert "ChecksumSHA256" not in s3_client.head_object(
        Bucket=bucket, Key=KEY, ChecksumMode="ENABLED"
    )
    stored = await store.stat(KEY)
    assert stored is not None and stored.sha256 == sha256_of(source)


async def test_a_hebrew_customer_name_round_trips_and_travels_as_ascii(
    s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    await put(s3_store, recording(tmp_path))

    raw = s3_client.head_object(Bucket=bucket, Key=KEY)["Metadata"]
    assert raw["customer"] == "%D7%93%D7%A0%D7%94%20%D7%9B%D7%94%D7%9F"
    assert raw["agent"] == "Dana%20100%25"
    stored = await s3_store.stat(KEY)
    assert stored is not None
    assert stored.metadata["customer"] == "דנה כהן"
    assert stored.metadata["agent"] == "Dana 100%"


async def test_server_side_encryption_is_requested_with_every_upload(
    s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    await put(s3_store, recording(tmp_path))

    assert s3_client.head_object(Bucket=bucket, Key=KEY)["ServerSideEncryption"] == "AES256"


async def test_a_kms_key_is_requested_when_configured(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    store = S3Store(
        bucket, region=REGION, endpoint_url=s3_endpoint, credentials=CREDENTIALS,
        server_side_encryption="aws:kms", kms_key_id="alias/ledgerline-recordings",
    )  # fmt: skip
    await put(store, recording(tmp_path))

    head = s3_client.head_object(Bucket=bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/ledgerline-recordings")


async def test_a_prefix_puts_every_key_under_one_folder(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    store = S3Store(
        bucket, region=REGION, endpoint_url=s3_endpoint, credentials=CREDENTIALS,
        prefix="/ledgerline/",
    )  # fmt: skip
    await put(store, recording(tmp_path))

    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"ledgerline/{KEY}"]
    assert (await store.stat(KEY)) is not None


async def test_stat_of_a_missing_key_is_none(s3_store: S3Store) -> None:
    assert await s3_store.stat(KEY) is None


async def test_delete_removes_and_deleting_again_is_not_an_error(
    s3_store: S3Store, tmp_path: Path
) -> None:
    await put(s3_store, recording(tmp_path))

    await s3_store.delete(KEY)
    await s3_store.delete(KEY)

    assert await s3_store.stat(KEY) is None


async def test_a_source_that_does_not_hash_to_its_sha256_is_not_uploaded(
    s3_store: S3Store, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="not stored"):
        await put(s3_store, recording(tmp_path), sha256="0" * 64)

    assert await s3_store.stat(KEY) is None


async def test_presigned_url_serves_the_object_over_http(s3_store: S3Store, tmp_path: Path) -> None:
    source = recording(tmp_path)
    await put(s3_store, source)

    url = await s3_store.playback_url(KEY, expires_in=300)

    assert url is not None and "X-Amz-Expires=300" in url
    assert "response-content-type=audio%2Fogg" in url
    assert CREDENTIALS.secret_access_key not in url
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/ogg"
        assert await response.read() == source.read_bytes()


async def test_a_playback_url_lifetime_must_be_within_sigv4s_week(s3_store: S3Store) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        await s3_store.playback_url(KEY, expires_in=8 * 24 * 3600)


async def test_unreachable_endpoint_is_reported_as_unavailable(tmp_path: Path) -> None:
    store = one_try_store(f"http://127.0.0.1:{free_port()}")  # nothing listens there

    with pytest.raises(StoreUnavailable, match=r"s3://recordings/acme/2026/03/09/42\.opus"):
        await put(store, recording(tmp_path))
    with pytest.raises(StoreUnavailable):
        await store.stat(KEY)


@pytest.fixture
def silent_peer() -> Iterator[str]:
    """Accepts connections and never answers, like a hung load balancer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_store_that_never_answers_is_unavailable_after_the_read_timeout(
    silent_peer: str,
) -> None:
    store = one_try_store(silent_peer, config=IMPATIENT)

    with pytest.raises(StoreUnavailable, match="timeout"):
        await store.stat(KEY)


async def test_missing_bucket_is_a_store_error_not_unavailable(
    s3_endpoint: str, tmp_path: Path
) -> None:
    store = one_try_store(s3_endpoint, bucket="no-such-recordings-bucket")

    for attempt in (put(store, recording(tmp_path)), store.stat(KEY), store.delete(KEY)):
        with pytest.raises(StoreError, match="NoSuchBucket") as raised:
            await attempt
        assert not isinstance(raised.value, StoreUnavailable)


S3_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId>\
<HostId>nM6Fbc0ZDwLZ9Kq7V7xbqxhI2qGvZPaT2w==</HostId></Error>"""


@pytest.fixture
async def failing_s3() -> AsyncIterator[dict[str, Any]]:
    """An S3 endpoint answering every request with the error the test sets, as S3 words it."""
    answer: dict[str, Any] = {}

    async def respond(request: web.Request) -> web.Response:
        await request.read()
        body = S3_ERROR.format(code=answer["code"], message=answer["message"])
        return web.Response(status=answer["status"], text=body, content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", respond)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    answer["endpoint"] = f"http://127.0.0.1:{port}"
    yield answer
    await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (503, "SlowDown", "Please reduce your request rate.", StoreUnavailable),
        (500, "InternalError", "We encountered an internal error. Please try again.",
         StoreUnavailable),
        (400, "RequestTimeout", "Your socket connection to the server was not read from or "
         "written to within the timeout period.", StoreUnavailable),
        (403, "AccessDenied", "Access Denied", StoreError),
        (400, "InvalidRequest", "The encryption method specified is not supported",
         StoreError),
    ],
)  # fmt: skip
async def test_transient_s3_errors_are_unavailable_and_refusals_are_errors(
    failing_s3: dict[str, Any],
    tmp_path: Path,
    status: int,
    code: str,
    message: str,
    expected: type[StoreError],
) -> None:
    failing_s3.update(status=status, code=code, message=message)
    store = one_try_store(failing_s3["endpoint"])

    with pytest.raises(StoreError) as raised:
        await put(store, recording(tmp_path))

    assert type(raised.value) is expected
    assert code in str(raised.value) and "s3://recordings/" in str(raised.value)
    assert CREDENTIALS.secret_access_key not in str(raised.value)
    assert CREDENTIALS.access_key_id not in str(raised.value)


async def test_stopped_server_then_restarted_accepts_the_upload(
    bucket: str, tmp_path: Path
) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    store = one_try_store(f"http://127.0.0.1:{port}", bucket)
    source = recording(tmp_path)
    try:
        server.stop()
        with pytest.raises(StoreUnavailable):
            await put(store, source)

        server.start()  # same port; moto's state lives in this process and survived
        await put(store, source)
        stored = await store.stat(KEY)
    finally:
        server.stop()

    assert stored is not None and stored.sha256 == sha256_of(source)


@pytest.mark.parametrize("metadata", [{"Customer": "x"}, {"sha256": "x"}, {"a_b": "x"}])
async def test_metadata_names_s3_could_not_carry_are_refused(
    s3_store: S3Store, tmp_path: Path, metadata: dict[str, str]
) -> None:
    source = recording(tmp_path)
    with pytest.raises(StoreError, match="metadata"):
        await s3_store.put(
            KEY, source, content_type="audio/ogg", sha256=sha256_of(source), metadata=metadata
        )


async def test_metadata_over_s3s_two_kilobytes_is_refused_before_sending(
    s3_store: S3Store, tmp_path: Path
) -> None:
    source = recording(tmp_path)
    with pytest.raises(StoreError, match="2048"):
        await s3_store.put(
            KEY, source, content_type="audio/ogg", sha256=sha256_of(source),
            metadata={"customer": "ש" * 400},
        )  # fmt: skip


async def test_calls_run_off_the_event_loop(s3_store: S3Store, tmp_path: Path) -> None:
    source = recording(tmp_path)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    await put(s3_store, source)
    running.cancel()

    assert ticks > 2
