"""Blob store on a tiny tmpfs: offloading fails with "no space left", retries, then completes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.e2e_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    PassLargeDocument,
    document_digest,
    make_document,
)
from tests.faults.conftest import verify_every_blob
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings
from workflow_runner.runtime.devserver import DevServer


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"make test-faults mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave_bytes: int) -> Path:
    filler = path / "filler"
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


async def test_full_disk_is_retried_until_space_is_freed(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "small", "2m") as disk:
        root = disk / "blobs"
        settings = load_settings({"BLOB_STORAGE_PATH": str(root)})
        store = await open_store(settings)
        filler = fill(disk, leave_bytes=64 * 1024)
        client = await Client.connect(
            temporal_server.address, data_converter=build_data_converter(settings, store)
        )
        queue = f"full-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
            handle = await client.start_workflow(
                PassLargeDocument.run,
                args=[600_000, False, True],
                id=f"full-{uuid.uuid4()}",
                task_queue=queue,
            )
            message = ""
            for _ in range(100):
                description = await handle.describe()
                pending = description.raw_description.pending_activities
                if pending and pending[0].attempt >= 3:
                    message = pending[0].last_failure.message
                    break
                await asyncio.sleep(0.2)
            assert "no space left on device" in message and str(root) in message, message
            assert list((root / "~tmp").iterdir()) == []  # nothing half-written
            filler.unlink()
            digest = await asyncio.wait_for(handle.result(), timeout=60)
        assert digest == document_digest(make_document(600_000))
        assert await verify_every_blob(store) == 1
        print(
            f"disk full: {pending[0].attempt}+ failed attempts ({message[:50]}...), then completed"
        )
