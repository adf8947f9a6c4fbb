"""Writes content-addressed blobs forever; the crash test SIGKILLs it at random moments.

Usage: python -m tests.faults.blob_writer ROOT SEED
"""

from __future__ import annotations

import asyncio
import hashlib
import sys

from workflow_runner.claimcheck.stores import FilesystemStore


def blob(seed: int, i: int) -> bytes:
    unit = hashlib.sha256(f"{seed}-{i}".encode()).digest()
    size = 10_000 + (i * 7919 + seed) % 400_000
    return (unit * (size // len(unit) + 1))[:size]


async def main(root: str, seed: int) -> None:
    store = FilesystemStore(root)
    print("ready", flush=True)
    i = 0
    while True:
        data = blob(seed, i)
        await store.put(f"crash/{hashlib.sha256(data).hexdigest()}", data)
        i += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
