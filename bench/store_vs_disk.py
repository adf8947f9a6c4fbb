"""FilesystemStore against raw file I/O, and S3Store against plain boto3, same run.

Baselines do the minimum the same guarantee needs: for the filesystem, open /
write / fsync / rename into the same directory tree (and a plain read); for
S3, boto3 put_object / get_object against the same moto server. Store and
baseline run interleaved (``_harness.interleaved``): each round is one batch
of operations per contender, and throughputs are compared round by round.

    .venv/bin/python bench/store_vs_disk.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import boto3
from _harness import free_port, interleaved, percentile, scratch_dir, table
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings

RAW_PUT = "put: raw write+fsync+rename"
RAW_GET = "get: raw read"
BOTO_PUT = "put: boto3 put_object"
BOTO_GET = "get: boto3 get_object"
SIZES = [(1024, "1 KB"), (64 * 1024, "64 KB"), (1024 * 1024, "1 MB"), (16 * 1024 * 1024, "16 MB")]


def repetitions(size: int, quick: bool) -> int:
    base = 20 if quick else 100
    return max(5, base if size <= 1024 * 1024 else base // 5)


FORMATS = {"p50": "{:.2f} ms", "p99": "{:.2f} ms", "MB/s": "{:.1f} MB/s", "ops/s": "{:,.0f}"}


class Batches:
    """One contender: each call runs ``n`` operations on fresh indices and returns metrics.

    ``op(batch, i)``: batch numbers count up from 0 (the warm-up), so puts never
    overwrite and gets can read what the first put batch wrote.
    """

    def __init__(self, op: Callable[[int, int], Awaitable[None]], n: int, size: int) -> None:
        self.op, self.n, self.size, self.batch = op, n, size, 0

    async def __call__(self) -> dict[str, float]:
        samples = []
        for i in range(self.n):
            start = time.perf_counter()
            await self.op(self.batch, i)
            samples.append(time.perf_counter() - start)
        self.batch += 1
        mean = sum(samples) / len(samples)
        return {
            "p50": percentile(samples, 50) * 1e3,
            "p99": percentile(samples, 99) * 1e3,
            "MB/s": self.size / mean / 1e6,
            "ops/s": 1 / mean,
        }


async def compare(
    label: str, rounds: int, contenders: dict[str, Batches], baseline: str
) -> list[list[str]]:
    result = await interleaved(rounds, dict(contenders))
    return [[label, *row] for row in result.rows(FORMATS, [("MB/s", baseline)])]


def raw_put(root: Path, name: str, data: bytes) -> None:
    directory = root / "raw" / name[:2]
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / name)


def raw_get(root: Path, name: str) -> bytes:
    with open(root / "raw" / name[:2] / name, "rb") as f:
        return f.read()


async def filesystem_rows(root: Path, quick: bool, rounds: int) -> list[list[str]]:
    store = FilesystemStore(root / "store")
    rows = []
    for size, label in SIZES:
        data = os.urandom(size)
        n = repetitions(size, quick)

        async def store_put(b: int, i: int, data: bytes = data, size: int = size) -> None:
            await store.put(f"bench/{size}/{b}/{i}", data)

        async def store_get(_b: int, i: int, size: int = size) -> None:
            await store.get(f"bench/{size}/0/{i}")

        async def disk_put(b: int, i: int, data: bytes = data, size: int = size) -> None:
            raw_put(root, f"{size}-{b}-{i}", data)

        async def disk_get(_b: int, i: int, size: int = size) -> None:
            raw_get(root, f"{size}-0-{i}")

        puts = {
            "put: FilesystemStore": Batches(store_put, n, size),
            RAW_PUT: Batches(disk_put, n, size),
        }
        gets = {
            "get: FilesystemStore": Batches(store_get, n, size),
            RAW_GET: Batches(disk_get, n, size),
        }
        rows += await compare(label, rounds, puts, RAW_PUT)
        rows += await compare(label, rounds, gets, RAW_GET)
    return rows


async def s3_rows(quick: bool, rounds: int) -> list[list[str]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        )
        client.create_bucket(Bucket="bench")
        store = S3Store(S3Settings("bench", endpoint, "us-east-1", SecretStr("k"), SecretStr("s")))
        rows = []
        for size, label in SIZES[:3]:
            data = os.urandom(size)
            n = repetitions(size, quick)

            async def store_put(b: int, i: int, data: bytes = data, size: int = size) -> None:
                await store.put(f"bench/{size}/{b}/{i}", data)

            async def store_get(_b: int, i: int, size: int = size) -> None:
                await store.get(f"bench/{size}/0/{i}")

            async def boto_put(b: int, i: int, data: bytes = data, size: int = size) -> None:
                client.put_object(Bucket="bench", Key=f"raw/{size}/{b}/{i}", Body=data)

            async def boto_get(_b: int, i: int, size: int = size) -> None:
                client.get_object(Bucket="bench", Key=f"raw/{size}/0/{i}")["Body"].read()

            puts = {
                "put: S3Store (aioboto3)": Batches(store_put, n, size),
                BOTO_PUT: Batches(boto_put, n, size),
            }
            gets = {
                "get: S3Store (aioboto3)": Batches(store_get, n, size),
                BOTO_GET: Batches(boto_get, n, size),
            }
            rows += await compare(label, rounds, puts, BOTO_PUT)
            rows += await compare(label, rounds, gets, BOTO_GET)
        await store.close()
        return rows
    finally:
        server.stop()


async def main() -> None:
    quick = "--quick" in sys.argv
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    headers = ["size", "operation", *FORMATS, "MB/s ÷ baseline"]
    with scratch_dir() as root:
        print("Filesystem (same directory tree, same disk)")
        print(table(headers, await filesystem_rows(root, quick, rounds)))
    print("\nS3 protocol (moto server on 127.0.0.1)")
    print(table(headers, await s3_rows(quick, rounds)))
    print(
        f"{rounds} interleaved rounds (order rotated each round) after one warm-up batch; "
        "cells are medians over rounds, ratios min / median / max of the per-round ratios"
    )


if __name__ == "__main__":
    asyncio.run(main())
