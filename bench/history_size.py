"""History bytes of a workflow passing a document between two activities, with and without
the claim check, measured in the same run on the real dev server.

    .venv/bin/python bench/history_size.py
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from _harness import (
    PassDocument,
    dev_server,
    history_bytes,
    pass_document_worker,
    scratch_dir,
    table,
)
from temporalio.client import Client, WorkflowFailureError

from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings

SIZES = [(100_000, "100 KB"), (1_000_000, "1 MB"), (5_000_000, "5 MB")]
VARIANTS = [
    (
        "inline (no claim check, no compression)",
        {"CLAIMCHECK_ENABLED": "false", "CLAIMCHECK_COMPRESSION_ENABLED": "false"},
    ),
    ("inline + zstd", {"CLAIMCHECK_ENABLED": "false"}),
    ("claim check + zstd (default)", {}),
]


async def measure(address: str, blobs: Path, env: dict[str, str], size: int) -> str:
    settings = load_settings({"BLOB_STORAGE_PATH": str(blobs), **env})
    store = await open_store(settings)
    client = await Client.connect(address, data_converter=build_data_converter(settings, store))
    queue = f"bench-{uuid.uuid4()}"
    async with pass_document_worker(client, queue):
        handle = await client.start_workflow(
            PassDocument.run, size, id=f"hist-{uuid.uuid4()}", task_queue=queue
        )
        try:
            await asyncio.wait_for(handle.result(), timeout=120)
        except WorkflowFailureError:
            return "refused (payload > 2 MiB limit)"
    return f"{await history_bytes(handle):,} B"


async def main() -> None:
    rows = []
    async with dev_server() as server:
        with scratch_dir() as scratch:
            for size, label in SIZES:
                row = [label]
                for _, env in VARIANTS:
                    row.append(await measure(server.address, scratch / "blobs", env, size))
                rows.append(row)
    print(table(["document", *(name for name, _ in VARIANTS)], rows))
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
