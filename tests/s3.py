"""Shared fixtures for the object store: moto's S3 server over real HTTP, fresh buckets.

moto keeps its state in this process, so every server started here (the session's one and
any a test starts and stops) sees the same buckets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from recordings.s3_store import S3Credentials, S3Store

REGION = "us-east-1"
CREDENTIALS = S3Credentials("AKIDLEDGERLINETEST", "ledgerline-test-secret-key")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client, to look at what the store really left in the bucket."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS.access_key_id,
        aws_secret_access_key=CREDENTIALS.secret_access_key,
    )


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"recordings-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_endpoint: str, bucket: str) -> Iterator[S3Store]:
    store = S3Store(bucket, region=REGION, endpoint_url=s3_endpoint, credentials=CREDENTIALS)
    yield store
    store.close()
