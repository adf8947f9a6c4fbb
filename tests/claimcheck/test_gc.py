"""GC asks the real Temporal server about each blob's run; an open run's blobs always stay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from tests.e2e_workflows import ACTIVITIES, WORKFLOWS, PassLargeDocument
from workflow_runner.claimcheck import ObjectStore
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.claimcheck.gc import collect_garbage, owner_of
from workflow_runner.claimcheck.runs import TemporalRunStatus
from workflow_runner.claimcheck.stores import MemoryStore
from workflow_runner.claimcheck.stores.s3 import S3Store, lifecycle_rule
from workflow_runner.config import S3Settings, load_settings
from workflow_runner.local.devserver import DevServer

SIZE = 300_000
LATER = datetime.now(UTC) + timedelta(days=31)


def test_owner_is_read_back_from_the_key() -> None:
    owner = owner_of("v0/ns/default/wt/Flow/wi/order%2F42/ri/r-1/d/sha256/" + "a" * 64)
    assert (owner.namespace, owner.workflow_id, owner.run_id) == ("default", "order/42", "r-1")
    client_side = owner_of("v0/ns/default/wt/Flow/wi/w1/ri/null/d/sha256/" + "a" * 64)
    assert client_side.workflow_id == "w1" and client_side.run_id is None
    assert owner_of("_health/x").workflow_id is None


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


async def test_unreachable_temporal_keeps_everything() -> None:
    class Unknown:
        async def is_open(
            self, namespace: str, workflow_id: str, run_id: str | None
        ) -> bool | None:
            return None

    store = MemoryStore()
    await store.put("v0/ns/default/wt/T/wi/w/ri/r/d/sha256/" + "b" * 64, b"x")
    report = await collect_garbage(store, Unknown(), ttl=timedelta(days=1), now=LATER)
    assert report.deleted == 0 and report.kept_unknown == 1


async def test_lifecycle_rule_round_trip_on_moto(s3_settings: S3Settings) -> None:
    store = S3Store(s3_settings)
    rule = lifecycle_rule(s3_settings, expire_days=60)
    await store.put_lifecycle(rule)
    (stored,) = await store.get_lifecycle()
    assert stored["Expiration"] == {"Days": 60} and stored["Filter"] == {"Prefix": "v0/"}
    await store.close()
