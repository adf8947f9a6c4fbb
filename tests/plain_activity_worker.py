"""A worker that knows nothing about workflow-runner: temporalio and the standard library only.

It serves activities that a DSL run calls with ``call: activity``, and reads and
writes claim-check references with nothing but ``docs/wire-format.md``: a large
result goes to the blob store (filesystem layout) as a gzip-encoded payload
under a content-addressed key, and only the reference enters history.

    python tests/plain_activity_worker.py ADDRESS NAMESPACE TASK_QUEUE BLOB_ROOT

Prints ``ready`` once polling; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import os
import signal
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    PayloadCodec,
    StorageDriver,
    StorageDriverActivityInfo,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)
from temporalio.worker import Worker

DRIVER_NAME = "workflow-runner.claimcheck"  # must match: references name their driver
THRESHOLD = 4096  # codec output at or above this is offloaded (the runner: raw size, 50 KiB)
RAW_SIZE_KEY = "claimcheck-raw-size"
_SAFE = frozenset(string.ascii_letters + string.digits + "!-_.*'()")


def segment(value: str | None) -> str:
    if not value:
        return "null"
    return "".join(chr(b) if chr(b) in _SAFE else f"%{b:02X}" for b in value.encode())


class GzipCodec(PayloadCodec):
    """binary/gzip: the payload's bytes, gzip-compressed (the runner also writes binary/zstd)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            raw = p.SerializeToString(deterministic=True)
            if len(raw) < 4096:
                out.append(p)
                continue
            out.append(
                Payload(
                    metadata={"encoding": b"binary/gzip", RAW_SIZE_KEY: str(len(raw)).encode()},
                    data=gzip.compress(raw),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") == b"binary/gzip":
                inner = Payload()
                inner.ParseFromString(gzip.decompress(p.data))
                out.append(inner)
            elif p.metadata.get("encoding") == b"binary/zstd":
                raise ValueError("this worker reads no zstd: keep arguments under 4 KiB")
            else:
                out.append(p)
        return out


class FilesystemDriver(StorageDriver):
    """The runner's filesystem store, by its documented layout."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.root = root
        self.namespace = namespace

    def name(self) -> str:
        return DRIVER_NAME

    def type(self) -> str:
        return DRIVER_NAME

    def path(self, key: str) -> Path:
        directory, _, name = key.rpartition("/")
        return self.root / directory / ("~" + hashlib.sha256(key.encode()).hexdigest()[:2]) / name

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        claims = []
        for payload in payloads:
            data = payload.SerializeToString(deterministic=True)
            digest = hashlib.sha256(data).hexdigest()
            owner = ""
            target = context.target
            if isinstance(target, StorageDriverWorkflowInfo):
                owner = (
                    f"/wt/{segment(target.type)}/wi/{segment(target.id)}"
                    f"/ri/{segment(target.run_id)}"
                )
            elif isinstance(target, StorageDriverActivityInfo):
                owner = (
                    f"/at/{segment(target.type)}/ai/{segment(target.id)}"
                    f"/ri/{segment(target.run_id)}"
                )
            key = f"v0/ns/{segment(self.namespace)}{owner}/d/sha256/{digest}"
            path = self.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"~{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.rename(path)
            claims.append(
                StorageDriverClaim(
                    claim_data={
                        "key": key,
                        "hash_algorithm": "sha256",
                        "hash_value": digest,
                        "size": str(len(data)),
                    }
                )
            )
        return claims

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        out = []
        for claim in claims:
            data = self.path(claim.claim_data["key"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != claim.claim_data["hash_value"]:
                raise ValueError(f"blob {claim.claim_data['key']} does not match its digest")
            payload = Payload()
            payload.ParseFromString(data)
            out.append(payload)
        return out


@activity.defn(name="profiles.FetchProfile")
async def fetch_profile(user_id: int, request_id: str) -> dict[str, Any]:
    return {"id": user_id, "name": f"user {user_id}", "requestId": request_id}


@activity.defn(name="profiles.BigDocument")
async def big_document(count: int) -> dict[str, Any]:
    return {"items": [{"n": i, "text": f"line {i} " + "x" * 40} for i in range(count)]}


async def main(address: str, namespace: str, task_queue: str, root: str) -> None:
    driver = FilesystemDriver(Path(root), namespace)
    converter = dataclasses.replace(
        DataConverter.default,
        payload_codec=GzipCodec(),
        external_storage=ExternalStorage(
            drivers=[driver],
            driver_selector=lambda _ctx, p: driver if p.ByteSize() >= THRESHOLD else None,
            payload_size_threshold=0,
        ),
    )
    client = await Client.connect(address, namespace=namespace, data_converter=converter)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(client, task_queue=task_queue, activities=[fetch_profile, big_document]):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
