"""Storage fixtures: the same tests on local files, memory and a real S3 API (moto's server)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from celeris.storage import Storage

SECRET = "test-secret-key"
KEYS = "access_key_id=testing&secret_access_key=testing&region=us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, once per session."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str) -> str:
    name = f"celeris-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=name)
    return name


def s3_url(endpoint: str, bucket: str) -> str:
    return f"s3://{bucket}?endpoint_url={endpoint}&{KEYS}"


@pytest.fixture(params=["file", "memory", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'media'}"
    if request.param == "memory":
        return "memory://"
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_url(endpoint, make_bucket(endpoint))


@pytest.fixture
def storage(storage_url: str) -> Storage:
    return Storage(url=storage_url, secret=SECRET)
