"""Outages: the S3 endpoint gone mid-workflow; the Temporal server killed and restarted."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from tests.conftest import free_port
from tests.e2e_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    PassLargeDocument,
    document_digest,
    make_document,
)
from tests.faults.conftest import verify_every_blob
from tests.faults.tcp_proxy import OutageProxy
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings, load_settings
from workflow_runner.runtime.devserver import DevServer

SIZE = 400_000


async def wait_for_event(handle: object, field: str, seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):
        events = (await handle.fetch_history()).events  # type: ignore[attr-defined]
        if any(e.HasField(field) for e in events):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {field} within {seconds}s")


async def test_s3_down_mid_workflow_then_back(
    temporal_server: DevServer, s3_settings: S3Settings
) -> None:
    assert s3_settings.endpoint_url is not None
    moto_port = int(s3_settings.endpoint_url.rsplit(":", 1)[1])
    proxy = OutageProxy(moto_port, free_port())
    await proxy.up()
    via_proxy = S3Settings(
        s3_settings.bucket,
        f"http://127.0.0.1:{proxy.port}",
        "auto",
        s3_settings.access_key_id,
        s3_settings.secret_access_key,
    )
    store = S3Store(via_proxy)
    settings = load_settings({})
    client = await Client.connect(
        temporal_server.address, data_converter=build_data_converter(settings, store)
    )
    queue = f"s3down-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=0
    ):
        handle = await client.start_workflow(
            PassLargeDocument.run,
            args=[SIZE, True, True],
            id=f"s3down-{uuid.uuid4()}",
            task_queue=queue,
        )
        await wait_for_event(handle, "activity_task_completed_event_attributes")
        await proxy.down()
        await handle.signal(PassLargeDocument.proceed)
        # Without its blob the workflow cannot make progress: its tasks fail and are retried.
        await wait_for_event(handle, "workflow_task_failed_event_attributes")
        history = await handle.fetch_history()
        failure = next(
            e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
        )
        message = failure.workflow_task_failed_event_attributes.failure.message
        assert f"127.0.0.1:{proxy.port}" in message, message
        await asyncio.sleep(2)
        await proxy.up()
        digest = await asyncio.wait_for(handle.result(), timeout=90)
    assert digest == document_digest(make_document(SIZE))
    assert await verify_every_blob(store) >= 1
    await store.close()
    await proxy.down()


async def test_temporal_server_killed_and_restarted(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "temporal.db"
    server = await DevServer(port=port, headless=True, db_file=db).start()
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    store = await open_store(settings)
    client = await Client.connect(
        server.address, data_converter=build_data_converter(settings, store)
    )
    queue = f"restart-{uuid.uuid4()}"
    try:
        async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
            handle = await client.start_workflow(
                PassLargeDocument.run,
                args=[SIZE, True, True],
                id=f"restart-{uuid.uuid4()}",
                task_queue=queue,
            )
            await wait_for_event(handle, "activity_task_completed_event_attributes")
            server.kill()
            await asyncio.sleep(2)
            server = await DevServer(port=port, headless=True, db_file=db).start()
            for _ in range(100):
                try:
                    await handle.signal(PassLargeDocument.proceed)
                    break
                except RPCError:
                    await asyncio.sleep(0.3)
            digest = await asyncio.wait_for(handle.result(), timeout=120)
        assert digest == document_digest(make_document(SIZE))
    finally:
        await server.stop()
        await store.close()
