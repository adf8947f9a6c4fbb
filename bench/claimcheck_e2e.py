"""Two activities passing a document: throughput, latency and history size per payload path.

Same dev server, same workflow, same run: inline (as far as Temporal allows),
our driver on the filesystem store, our driver on S3 (moto), and Temporal's own
S3StorageDriver on the same moto server.

    .venv/bin/python bench/claimcheck_e2e.py [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aioboto3
import boto3
from _harness import (
    PassDocument,
    dev_server,
    free_port,
    history_bytes,
    pass_document_worker,
    percentile,
    scratch_dir,
    table,
)
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.aws.s3driver import S3StorageDriver
from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client
from temporalio.converter import DataConverter, ExternalStorage

from workflow_runner.claimcheck.codec import CompressionCodec
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings, load_settings

CONCURRENCY = 8


@contextlib.asynccontextmanager
async def converters(blobs: Path, endpoint: str) -> AsyncIterator[dict[str, DataConverter]]:
    settings = load_settings({})
    fs = FilesystemStore(blobs)
    s3 = S3Store(S3Settings("bench", endpoint, "us-east-1", SecretStr("k"), SecretStr("s")))
    session = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ) as raw_client:
        temporal_driver = S3StorageDriver(new_aioboto3_client(raw_client), "bench")
        yield {
            "inline + zstd": build_data_converter(
                dataclasses.replace(settings, claimcheck_enabled=False), None
            ),
            "claim check, FilesystemStore": build_data_converter(settings, fs),
            "claim check, S3Store on moto": build_data_converter(settings, s3),
            "Temporal S3StorageDriver on moto": dataclasses.replace(
                DataConverter.default,
                payload_codec=CompressionCodec(),
                external_storage=ExternalStorage(
                    drivers=[temporal_driver], payload_size_threshold=51_200
                ),
            ),
        }
    await s3.close()


async def run_batch(address: str, converter: DataConverter, size: int, count: int) -> list[str]:
    client = await Client.connect(address, data_converter=converter)
    queue = f"bench-{uuid.uuid4()}"
    latencies: list[float] = []
    handles = []
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with semaphore:
            start = time.perf_counter()
            handle = await client.start_workflow(
                PassDocument.run, size, id=f"e2e-{uuid.uuid4()}", task_queue=queue
            )
            await handle.result()
            latencies.append(time.perf_counter() - start)
            handles.append(handle)

    async with pass_document_worker(client, queue):
        began = time.perf_counter()
        try:
            await asyncio.gather(*(one() for _ in range(count)))
        except WorkflowFailureError:
            return ["refused (> 2 MiB)", "-", "-", "-"]
        elapsed = time.perf_counter() - began
    history = await history_bytes(handles[0])
    return [
        f"{count / elapsed:.1f}",
        f"{percentile(latencies, 50) * 1e3:.0f} ms",
        f"{percentile(latencies, 99) * 1e3:.0f} ms",
        f"{history:,} B",
    ]


async def main() -> None:
    quick = "--quick" in sys.argv
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).create_bucket(Bucket="bench")
    rows = []
    try:
        async with dev_server() as server:
            with scratch_dir() as scratch:
                async with converters(scratch / "blobs", endpoint) as paths:
                    for size, label, count in [(200_000, "200 KB", 40), (5_000_000, "5 MB", 12)]:
                        count = max(4, count // 4) if quick else count
                        for name, converter in paths.items():
                            result = await run_batch(server.address, converter, size, count)
                            rows.append([label, name, *result])
    finally:
        moto.stop()
    print(f"{CONCURRENCY} workflows in flight; each: activity → workflow → activity")
    print(table(["document", "payload path", "workflows/s", "p50", "p99", "history"], rows))
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
