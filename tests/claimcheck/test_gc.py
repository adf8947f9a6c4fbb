"""GC asks the real Temporal server about each blob's run; an open run's blobs always stay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from tests.claimcheck.gc_workflows import HoldInputUntilSignalled
from tests.e2e_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    PassLargeDocument,
    document_digest,
    make_document,
)
from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.gc import collect_garbage, owner_of
from workflow_runner.claimcheck.keys import blob_key, key_segment
from workflow_runner.claimcheck.runs import TemporalRunStatus
from workflow_runner.claimcheck.stores import MemoryStore
from workflow_runner.claimcheck.stores.s3 import S3Store, lifecycle_rule
from workflow_runner.config import S3Settings, load_settings
from workflow_runner.runtime.devserver import DevServer

SIZE = 300_000
LATER = datetime.now(UTC) + timedelta(days=31)


def test_owner_is_read_back_from_the_key() -> None:
    owner = owner_of("v0/ns/default/wt/Flow/wi/order%2F42/ri/r-1/d/sha256/" + "a" * 64)
    assert (owner.namespace, owner.workflow_id, owner.run_id) == ("default", "order/42", "r-1")
    client_side = owner_of("v0/ns/default/wt/Flow/wi/w1/ri/null/d/sha256/" + "a" * 64)
    assert client_side.workflow_id == "w1" and client_side.run_id is None
    assert owner_of("_health/x").workflow_id is None
    digested = owner_of(blob_key("a" * 64, namespace="default", scope=("wt", "T", "x" * 300, "r")))
    assert digested.digested and digested.workflow_id is None
    assert digested.id_segment == key_segment("x" * 300)


async def test_gc_never_touches_an_open_run(temporal_server: DevServer, store: ObjectStore) -> None:
    settings = load_settings({})
    client = await Client.connect(
        temporal_server.address, data_converter=build_data_converter(settings, store)
    )
    queue = f"gc-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        closed = await client.start_workflow(
            PassLargeDocument.run, args=[SIZE], id=f"closed-{uuid.uuid4()}", task_queue=queue
        )
        await closed.result()
        open_run = await client.start_workflow(
            PassLargeDocument.run,
            args=[SIZE + 1, True],
            id=f"open-{uuid.uuid4()}",
            task_queue=queue,
        )
        for _ in range(100):
            if [
                k
                async for k in store.list_keys(
                    f"v0/ns/default/wt/PassLargeDocument/wi/{open_run.id}/"
                )
            ]:
                break
            await asyncio.sleep(0.1)
        await store.put("_health/stale-probe", b"x")  # no workflow in the key: age alone
        runs = TemporalRunStatus({"default": client})

        young = await collect_garbage(store, runs, ttl=timedelta(days=30))
        assert young.deleted == 0 and young.kept_young == young.scanned == 3

        dry = await collect_garbage(store, runs, ttl=timedelta(days=30), now=LATER, dry_run=True)
        assert dry.deleted == 2 and dry.kept_open_run == 1
        assert len([k async for k in store.list_keys()]) == 3  # dry run deleted nothing

        report = await collect_garbage(store, runs, ttl=timedelta(days=30), now=LATER)
        assert report.deleted == 2 and report.kept_open_run == 1 and report.bytes_freed > 0
        remaining = [k async for k in store.list_keys()]
        assert len(remaining) == 1 and f"/wi/{open_run.id}/" in remaining[0]

        await open_run.signal(PassLargeDocument.proceed)
        await open_run.result()  # its blob was still there when it needed it
    after = await collect_garbage(store, runs, ttl=timedelta(days=30), now=LATER)
    assert after.deleted == 1 and [k async for k in store.list_keys()] == []


class _Answers:
    """A ``RunStatus`` with fixed answers, for the decisions that need no server."""

    def __init__(self, is_open: bool | None, running: list[tuple[str, str]] | None = None) -> None:
        self.answer = is_open
        self.running = running
        self.asked: list[tuple[str, str, str | None]] = []

    @property
    def namespaces(self) -> Collection[str]:
        return ("default",)

    async def is_open(self, namespace: str, workflow_id: str, run_id: str | None) -> bool | None:
        self.asked.append((namespace, workflow_id, run_id))
        return self.answer

    async def running_workflows(self, namespace: str) -> AsyncIterator[tuple[str, str]]:
        if self.running is None:
            raise ConnectionError("visibility is down")
        for entry in self.running:
            yield entry


async def test_unreachable_temporal_keeps_everything() -> None:
    store = MemoryStore()
    await store.put("v0/ns/default/wt/T/wi/w/ri/r/d/sha256/" + "b" * 64, b"x")
    long_id_key = blob_key("c" * 64, namespace="default", scope=("wt", "T", "y" * 300, "r"))
    await store.put(long_id_key, b"x")
    report = await collect_garbage(store, _Answers(None), ttl=timedelta(days=1), now=LATER)
    assert report.deleted == 0 and report.kept_unknown == 2


async def test_gc_keeps_keys_that_name_no_workflow_whatever_their_age() -> None:
    """Age alone never deletes a payload blob: only its owner's closed state does."""
    store = MemoryStore()
    digest = "d" * 64
    unowned = [
        f"v0/ns/default/d/sha256/{digest}",  # old fallback for long ids: names no workflow
        f"v0/d/sha256/{digest}",  # old namespace-less fallback
        f"v0/ns/default/at/Act/ai/a1/ri/r1/d/sha256/{digest}",  # standalone activity
        f"v0/ns/default/wt/T/wi/null/ri/null/d/sha256/{digest}",  # "null": no id, or id "null"?
        f"v0/ns/tenant-b/wt/T/wi/w/ri/r/d/sha256/{digest}",  # a namespace GC has no client for
        "someone-elses/object",  # not this layout at all (shared bucket)
    ]
    closed = f"v0/ns/default/wt/T/wi/w/ri/r/d/sha256/{digest}"
    for key in [*unowned, closed, "_health/123-stale"]:
        await store.put(key, b"x")
    runs = _Answers(False)  # Temporal says every workflow it is asked about is closed
    report = await collect_garbage(store, runs, ttl=timedelta(days=1), now=LATER)
    assert report.kept_unowned == len(unowned) and report.deleted == 2
    assert sorted([k async for k in store.list_keys()]) == sorted(unowned)
    assert runs.asked == [("default", "w", None)]  # the id's latest run, not the keyed run


async def test_gc_decides_digested_ids_by_the_running_workflows_visibility_lists() -> None:
    store = MemoryStore()
    long_id, other = "x" * 300, "z" * 300
    kept = blob_key("a" * 64, namespace="default", scope=("wt", "T", long_id, None))
    gone = blob_key("b" * 64, namespace="default", scope=("wt", "T", other, "r"))
    await store.put(kept, b"x")
    await store.put(gone, b"x")
    runs = _Answers(False, running=[("T", long_id)])
    young = await collect_garbage(store, runs, ttl=timedelta(0))  # visibility may lag: keep
    assert young.deleted == 0 and young.kept_unknown == 1 and young.kept_open_run == 1
    report = await collect_garbage(store, runs, ttl=timedelta(0), now=LATER)
    assert report.deleted == 1 and report.kept_open_run == 1 and report.deleted_keys == [gone]
    assert runs.asked == []  # a digest cannot be described by id


async def wait_until_listed(client: Client, workflow_id: str) -> None:
    """Visibility is eventually consistent: wait until it lists the run as running."""
    query = f'WorkflowId = "{workflow_id}" AND ExecutionStatus = "Running"'
    for _ in range(100):
        if [e async for e in client.list_workflows(query)]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed {workflow_id}")


@pytest.mark.parametrize("prefix", ["x" * 300, "注文番号" * 8], ids=["300-chars", "cjk"])
async def test_gc_keeps_a_running_workflows_blobs_when_its_id_is_long(
    temporal_server: DevServer, blob_root: Path, prefix: str
) -> None:
    settings = load_settings({"BLOB_STORAGE_PATH": str(blob_root)})
    store = await open_store(settings)
    client = await Client.connect(
        temporal_server.address, data_converter=build_data_converter(settings, store)
    )
    doc = make_document(200_000, seed=11)
    queue = f"gc-long-{uuid.uuid4()}"
    workflow_id = f"{prefix}-{uuid.uuid4()}"
    runs = TemporalRunStatus({"default": client})
    async with Worker(
        client, task_queue=queue, workflows=[HoldInputUntilSignalled], activities=ACTIVITIES
    ):
        handle = await client.start_workflow(
            HoldInputUntilSignalled.run, doc, id=workflow_id, task_queue=queue
        )
        (key,) = [k async for k in store.list_keys("v0/")]
        assert f"/wi/{key_segment(workflow_id)}/" in key and "/wi/%%sha256-" in key
        await wait_until_listed(client, workflow_id)
        now_gc = await collect_garbage(store, runs, ttl=timedelta(0))
        later_gc = await collect_garbage(store, runs, ttl=timedelta(0), now=LATER)
        assert now_gc.deleted == later_gc.deleted == 0 and later_gc.kept_open_run == 1
        await handle.signal(HoldInputUntilSignalled.proceed)
        assert await handle.result() == document_digest(doc)  # its input was still there
    for _ in range(100):  # closed: once visibility stops listing it, the blob goes
        report = await collect_garbage(store, runs, ttl=timedelta(0), now=LATER)
        if report.deleted:
            break
        await asyncio.sleep(0.1)
    # The activity's input was stored again under the run id: both go, and nothing else.
    assert key in report.deleted_keys and report.deleted == 2
    assert [k async for k in store.list_keys()] == []
    await store.close()


async def test_gc_keeps_blobs_of_a_reset_workflow_while_the_new_run_is_open(
    temporal_server: DevServer, blob_root: Path
) -> None:
    settings = load_settings({"BLOB_STORAGE_PATH": str(blob_root)})
    store = await open_store(settings)
    client = await Client.connect(
        temporal_server.address, data_converter=build_data_converter(settings, store)
    )
    queue = f"gc-reset-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        first = await client.start_workflow(
            PassLargeDocument.run, args=[SIZE, True], id=f"reset-{uuid.uuid4()}", task_queue=queue
        )
        old_run = first.result_run_id
        assert old_run is not None
        for _ in range(100):  # the activity's result is stored under the first run
            keys = [k async for k in store.list_keys("v0/")]
            if keys:
                break
            await asyncio.sleep(0.1)
        assert len(keys) == 1 and f"/ri/{old_run}/" in keys[0]
        history = await first.fetch_history()
        completed = [
            e.event_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        ]
        reset = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=WorkflowExecution(workflow_id=first.id, run_id=old_run),
                reason="test: reset after the document was produced",
                workflow_task_finish_event_id=completed[-1],
                request_id=str(uuid.uuid4()),
            )
        )
        assert reset.run_id != old_run
        old = await client.get_workflow_handle(first.id, run_id=old_run).describe()
        assert old.status == WorkflowExecutionStatus.TERMINATED
        report = await collect_garbage(
            store, TemporalRunStatus({"default": client}), ttl=timedelta(0)
        )
        assert report.deleted == 0 and report.kept_open_run == 1
        new_run = client.get_workflow_handle(first.id, run_id=reset.run_id)
        await new_run.signal(PassLargeDocument.proceed)
        # The new run replays the first run's activity result: its blob must still be there.
        assert await new_run.result() == document_digest(make_document(SIZE))
    await store.close()


async def test_lifecycle_rule_round_trip_on_moto(s3_settings: S3Settings) -> None:
    store = S3Store(s3_settings)
    rule = lifecycle_rule(s3_settings, expire_days=60)
    await store.put_lifecycle(rule)
    (stored,) = await store.get_lifecycle()
    assert stored["Expiration"] == {"Days": 60} and stored["Filter"] == {"Prefix": "v0/"}
    await store.close()
