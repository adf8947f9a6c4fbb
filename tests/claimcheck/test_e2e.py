"""The claim check in real Temporal runs: megabytes move, history stays a few KB.

Real dev server (session fixture), real filesystem store, and the S3 store
against moto's server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from tests.e2e_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    DigestInput,
    PassLargeDocument,
    document_digest,
    make_document,
)
from tests.processes import read_line
from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import Settings, load_settings
from workflow_runner.runtime.devserver import DevServer

FIVE_MB = 5 * 1024 * 1024
REPO = Path(__file__).parents[2]


def settings_for(blob_root: Path, **env: str) -> Settings:
    return load_settings({"BLOB_STORAGE_PATH": str(blob_root), **env})


async def connect(server: DevServer, settings: Settings, store: ObjectStore) -> Client:
    return await Client.connect(
        server.address, data_converter=build_data_converter(settings, store)
    )


async def history_bytes(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(event.ByteSize() for event in history.events)


async def test_5mb_between_activities_keeps_history_small(
    temporal_server: DevServer, store: ObjectStore, blob_root: Path
) -> None:
    settings = settings_for(blob_root)
    client = await connect(temporal_server, settings, store)
    queue = f"q-{uuid.uuid4()}"
    labels = {"backend": store.backend}

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        n: sample(n)
        for n in (
            "claimcheck_offloads_total",
            "claimcheck_offload_deduplicated_total",
            "claimcheck_retrievals_total",
        )
    }
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            PassLargeDocument.run, args=[FIVE_MB], id=f"wf-{uuid.uuid4()}", task_queue=queue
        )
        digest = await handle.result()
    # Stored once (activity result), found again when the workflow passed it on,
    # read twice (by the workflow and by the second activity).
    assert sample("claimcheck_offloads_total") - before["claimcheck_offloads_total"] == 1
    assert (
        sample("claimcheck_offload_deduplicated_total")
        - before["claimcheck_offload_deduplicated_total"]
        == 1
    )
    assert sample("claimcheck_retrievals_total") - before["claimcheck_retrievals_total"] >= 2
    assert digest == document_digest(make_document(FIVE_MB))
    size = await history_bytes(handle)
    assert size < 16 * 1024, f"history is {size} bytes"
    keys = [k async for k in store.list_keys("v0/")]
    run_prefix = (
        f"v0/ns/default/wt/PassLargeDocument/wi/{handle.id}/ri/{handle.result_run_id}/d/sha256/"
    )
    assert keys and all(k.startswith(run_prefix) for k in keys), keys
    # The document went activity → workflow → activity but is stored once.
    assert len(keys) == 1
    if not isinstance(store, S3Store):
        layout_dir = blob_root / "v0" / "ns" / "default" / "wt" / "PassLargeDocument"
        assert await asyncio.to_thread(layout_dir.is_dir)


async def test_without_claim_check_the_size_limit_is_a_clear_failure(
    temporal_server: DevServer, blob_root: Path
) -> None:
    settings = settings_for(
        blob_root, CLAIMCHECK_ENABLED="false", CLAIMCHECK_COMPRESSION_ENABLED="false"
    )
    client = await connect(temporal_server, settings, await open_store(settings))
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(
            PassLargeDocument.run, args=[FIVE_MB], id=f"wf-{uuid.uuid4()}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
    chain = []
    err: BaseException | None = info.value
    while err is not None:
        chain.append(str(err))
        err = err.__cause__
    text = " | ".join(chain)
    assert "size" in text.lower() and "limit" in text.lower(), text
    assert not await asyncio.to_thread(lambda: any(blob_root.glob("v0/**/*")))


async def test_worker_killed_mid_workflow_is_replaced(
    temporal_server: DevServer, blob_root: Path
) -> None:
    settings = settings_for(blob_root)
    store = await open_store(settings)
    client = await connect(temporal_server, settings, store)
    queue = f"q-{uuid.uuid4()}"
    env = {**os.environ, "BLOB_STORAGE_PATH": str(blob_root), "PYTHONPATH": str(REPO)}

    def spawn() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e_worker", temporal_server.address, queue],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert read_line(proc.stdout).strip() == "worker ready"
        return proc

    first = await asyncio.to_thread(spawn)
    handle = await client.start_workflow(
        PassLargeDocument.run, args=[FIVE_MB, True], id=f"wf-{uuid.uuid4()}", task_queue=queue
    )
    # Kill the worker once the large document has been produced and offloaded.
    for _ in range(300):
        events = (await handle.fetch_history()).events
        if any(e.HasField("activity_task_completed_event_attributes") for e in events):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("first activity never completed")
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait)
    await handle.signal(PassLargeDocument.proceed)
    second = await asyncio.to_thread(spawn)
    try:
        digest = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait)
    assert digest == document_digest(make_document(FIVE_MB))


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
async def test_damaged_blob_fails_the_workflow_naming_the_key(
    temporal_server: DevServer, blob_root: Path, damage: str
) -> None:
    settings = settings_for(blob_root)
    store = await open_store(settings)
    client = await connect(temporal_server, settings, store)
    queue = f"q-{uuid.uuid4()}"
    # No workflow cache: every workflow task replays, so the blob is read again.
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        max_cached_workflows=0,
    ):
        handle = await client.start_workflow(
            PassLargeDocument.run,
            args=[FIVE_MB, True],
            id=f"wf-{uuid.uuid4()}",
            task_queue=queue,
        )
        for _ in range(300):
            keys = [k async for k in store.list_keys("v0/")]
            events = (await handle.fetch_history()).events
            if keys and any(e.HasField("activity_task_completed_event_attributes") for e in events):
                break
            await asyncio.sleep(0.1)
        (key,) = keys
        if damage == "delete":
            await store.delete(key)
        else:
            data = bytearray(await store.get(key))
            data[len(data) // 2] ^= 0xFF
            await store.put(key, bytes(data))
        await handle.signal(PassLargeDocument.proceed)
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
    message = str(info.value.cause)
    assert key in message
    assert ("not found" in message) if damage == "delete" else ("SHA-256" in message)


async def test_references_written_compressed_are_read_with_compression_off(
    temporal_server: DevServer, blob_root: Path
) -> None:
    writer_settings = settings_for(blob_root)
    reader_settings = settings_for(blob_root, CLAIMCHECK_COMPRESSION_ENABLED="false")
    store = await open_store(writer_settings)
    writer = await connect(temporal_server, writer_settings, store)
    reader = await connect(temporal_server, reader_settings, store)
    doc = make_document(FIVE_MB, seed=11)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(reader, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        digest = await writer.execute_workflow(
            DigestInput.run, doc, id=f"wf-{uuid.uuid4()}", task_queue=queue
        )
    assert digest == document_digest(doc)
    # The client (run id not known yet: ri/null) stored the input compressed;
    # the worker, compression off, stored the activity input uncompressed.
    blobs = {b.key: b.size async for b in store.list_blobs("v0/ns/default/wt/DigestInput/")}
    (client_size,) = [size for key, size in blobs.items() if "/ri/null/" in key]
    (worker_size,) = [size for key, size in blobs.items() if "/ri/null/" not in key]
    assert client_size < FIVE_MB * 0.8 < worker_size
