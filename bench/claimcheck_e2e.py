"""Two activities passing a document: throughput, latency and history size per payload path.

Same dev server, same workflow, same run: inline (as far as Temporal allows),
our driver on the filesystem store, our driver on S3 (moto), and Temporal's own
S3StorageDriver on the same moto server. Every path gets the same treatment:
the same codec (``codec_for``), the same offload decision (raw size ≥
``CLAIMCHECK_THRESHOLD_BYTES``, ``raw_size_selector``), the same unsandboxed
worker; only where the payload goes differs. The paths run interleaved
(``_harness.interleaved``), ratios are per round.

    .venv/bin/python bench/claimcheck_e2e.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aioboto3
import boto3
from _harness import (
    PassDocument,
    Refused,
    dev_server,
    free_port,
    history_bytes,
    interleaved,
    pass_document_worker,
    percentile,
    rounds_note,
    scratch_dir,
    table,
)
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.aws.s3driver import S3StorageDriver
from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client
from temporalio.converter import DataConverter, ExternalStorage

from workflow_runner.claimcheck.converter import (
    build_data_converter,
    codec_for,
    raw_size_selector,
)
from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings, load_settings

CONCURRENCY = 8
INLINE = "inline + zstd"
TEMPORAL_S3 = "Temporal S3StorageDriver on moto"
BASELINES = [INLINE, TEMPORAL_S3]
FORMATS = {"workflows/s": "{:.1f}", "p50": "{:.0f} ms", "p99": "{:.0f} ms", "history": "{:,.0f} B"}


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
            INLINE: build_data_converter(
                dataclasses.replace(settings, claimcheck_enabled=False), None
            ),
            "claim check, FilesystemStore": build_data_converter(settings, fs),
            "claim check, S3Store on moto": build_data_converter(settings, s3),
            TEMPORAL_S3: dataclasses.replace(
                DataConverter.default,
                payload_codec=codec_for(settings),
                external_storage=ExternalStorage(
                    drivers=[temporal_driver],
                    driver_selector=raw_size_selector(temporal_driver, settings.threshold_bytes),
                    payload_size_threshold=0,
                ),
            ),
        }
    await s3.close()


async def run_batch(
    address: str, converter: DataConverter, size: int, count: int
) -> dict[str, float]:
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
            raise Refused("refused (> 2 MiB)") from None
        elapsed = time.perf_counter() - began
    return {
        "workflows/s": count / elapsed,
        "p50": percentile(latencies, 50) * 1e3,
        "p99": percentile(latencies, 99) * 1e3,
        "history": float(await history_bytes(handles[0])),
    }


async def main() -> None:
    quick = "--quick" in sys.argv
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
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
    last = None
    try:
        async with dev_server() as server:
            with scratch_dir() as scratch:
                async with converters(scratch / "blobs", endpoint) as paths:
                    for size, label, count in [(200_000, "200 KB", 40), (5_000_000, "5 MB", 12)]:
                        count = max(4, count // 4) if quick else count
                        contenders = {
                            name: functools.partial(
                                run_batch, server.address, converter, size, count
                            )
                            for name, converter in paths.items()
                        }
                        last = await interleaved(rounds, contenders)
                        for row in last.rows(FORMATS, [("workflows/s", b) for b in BASELINES]):
                            rows.append([label, *row])
    finally:
        moto.stop()
    print(f"{CONCURRENCY} workflows in flight; each: activity → workflow → activity")
    headers = ["document", "payload path", *FORMATS, *(f"workflows/s ÷ {b}" for b in BASELINES)]
    print(table(headers, rows))
    if last is not None:
        print(rounds_note(last))
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
