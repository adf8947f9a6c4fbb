"""Four worker processes share one BLOB_STORAGE_PATH and run 100 big-payload workflows."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

from temporalio.client import Client

from tests.e2e_workflows import PassLargeDocument, document_digest, make_document
from tests.faults.conftest import python_module, verify_every_blob
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings
from workflow_runner.runtime.devserver import DevServer

WORKERS = 4
WORKFLOWS = 100


async def test_four_workers_one_store(temporal_server: DevServer, tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    queue = f"shared-{uuid.uuid4()}"
    workers = []
    for _ in range(WORKERS):
        proc = await asyncio.to_thread(
            python_module,
            "tests.e2e_worker",
            temporal_server.address,
            queue,
            env={**os.environ, "BLOB_STORAGE_PATH": str(root)},
        )
        workers.append(proc)
    try:
        for proc in workers:
            assert proc.stdout is not None
            assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "worker ready"
        settings = load_settings({"BLOB_STORAGE_PATH": str(root)})
        store = await open_store(settings)
        client = await Client.connect(
            temporal_server.address, data_converter=build_data_converter(settings, store)
        )
        sizes = [120_000 + i * 997 for i in range(WORKFLOWS)]
        handles = [
            await client.start_workflow(
                PassLargeDocument.run, args=[size], id=f"shared-{uuid.uuid4()}", task_queue=queue
            )
            for size in sizes
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=600
        )
        assert results == [document_digest(make_document(size)) for size in sizes]
        checked = await verify_every_blob(store)
        assert checked == WORKFLOWS  # one blob per run: produced once, deduplicated on the way back
        assert list((root / "~tmp").iterdir()) == []
        print(
            f"{WORKFLOWS} workflows on {WORKERS} workers: {checked} blobs verified, no temp files"
        )
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
