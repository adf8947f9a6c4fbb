"""FilesystemStore against raw file I/O, and S3Store against plain boto3, same run.

Baselines do the minimum the same guarantee needs: for the filesystem, open /
write / fsync / rename into the same directory tree (and a plain read); for
S3, boto3 put_object / get_object against the same moto server.

    .venv/bin/python bench/store_vs_disk.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import boto3
from _harness import free_port, percentile, scratch_dir, table
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings

SIZES = [(1024, "1 KB"), (64 * 1024, "64 KB"), (1024 * 1024, "1 MB"), (16 * 1024 * 1024, "16 MB")]


def repetitions(size: int, quick: bool) -> int:
    base = 20 if quick else 100
    return max(5, base if size <= 1024 * 1024 else base // 5)


async def timed(op: Callable[[int], Awaitable[None]], n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        await op(i)
        out.append(time.perf_counter() - start)
    return out


def row(label: str, what: str, size: int, samples: list[float]) -> list[str]:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    mean = sum(samples) / len(samples)
    mbps = size / mean / 1e6
    return [
        label,
        what,
        f"{p50 * 1e3:.2f} ms",
        f"{p99 * 1e3:.2f} ms",
        f"{mbps:.1f} MB/s",
        f"{1 / mean:,.0f}",
    ]


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


async def filesystem_rows(root: Path, quick: bool) -> list[list[str]]:
    store = FilesystemStore(root / "store")
    rows = []
    for size, label in SIZES:
        data = os.urandom(size)
        n = repetitions(size, quick)

        async def store_put(i: int, data: bytes = data, size: int = size) -> None:
            await store.put(f"bench/{size}/{i}", data)

        async def store_get(i: int, size: int = size) -> None:
            await store.get(f"bench/{size}/{i}")

        async def disk_put(i: int, data: bytes = data, size: int = size) -> None:
            raw_put(root, f"{size}-{i}", data)

        async def disk_get(i: int, size: int = size) -> None:
            raw_get(root, f"{size}-{i}")

        rows.append(row(label, "put: FilesystemStore", size, await timed(store_put, n)))
        rows.append(row(label, "put: raw write+fsync+rename", size, await timed(disk_put, n)))
        rows.append(row(label, "get: FilesystemStore", size, await timed(store_get, n)))
        rows.append(row(label, "get: raw read", size, await timed(disk_get, n)))
    return rows


async def s3_rows(quick: bool) -> list[list[str]]:
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

            async def store_put(i: int, data: bytes = data, size: int = size) -> None:
                await store.put(f"bench/{size}/{i}", data)

            async def store_get(i: int, size: int = size) -> None:
                await store.get(f"bench/{size}/{i}")

            async def boto_put(i: int, data: bytes = data, size: int = size) -> None:
                client.put_object(Bucket="bench", Key=f"raw/{size}/{i}", Body=data)

            async def boto_get(i: int, size: int = size) -> None:
                client.get_object(Bucket="bench", Key=f"raw/{size}/{i}")["Body"].read()

            rows.append(row(label, "put: S3Store (aioboto3)", size, await timed(store_put, n)))
            rows.append(row(label, "put: boto3 put_object", size, await timed(boto_put, n)))
            rows.append(row(label, "get: S3Store (aioboto3)", size, await timed(store_get, n)))
            rows.append(row(label, "get: boto3 get_object", size, await timed(boto_get, n)))
        await store.close()
        return rows
    finally:
        server.stop()


async def main() -> None:
    quick = "--quick" in sys.argv
    headers = ["size", "operation", "p50", "p99", "throughput", "ops/s"]
    with scratch_dir() as root:
        print("Filesystem (same directory tree, same disk)")
        print(table(headers, await filesystem_rows(root, quick)))
    print("\nS3 protocol (moto server on 127.0.0.1)")
    print(table(headers, await s3_rows(quick)))


if __name__ == "__main__":
    asyncio.run(main())
