"""A definition's schedule as a real Temporal Schedule on the session's dev server.

Waiting is always a poll with a deadline on what Temporal reports (runs in
visibility, the schedule's description), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import Definition, parse_definition
from workflow_runner.engine.scheduling.schedules import (
    ScheduleError,
    apply_schedule,
    delete_schedule,
    list_schedules,
    schedule_id,
)
from workflow_runner.engine.worker import running_worker
from workflow_runner.runtime.devserver import DevServer

T = TypeVar("T")


def definition(schedule: str, name: str | None = None) -> Definition:
    name = name or f"tick-{uuid.uuid4().hex[:8]}"
    text = (
        f"document:\n  dsl: '1.0.0'\n  namespace: test\n  name: {name}\n  version: '1.0.0'\n"
        f"schedule:\n{schedule}do:\n  - a:\n      set: {{ticked: true}}\n"
    )
    return parse_definition(text, f"{name}.yaml")


@pytest.fixture
async def client(temporal_server: DevServer, tmp_path: Path) -> AsyncIterator[Client]:
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    store = await open_store(settings)
    try:
        yield await connect(settings, store, temporal_server.address)
    finally:
        await store.close()


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 30) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} within {within} s")
        await asyncio.sleep(0.2)


async def completed_runs(client: Client, workflow_type: str) -> list[Any]:
    query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Completed'"
    return [w async for w in client.list_workflows(query)]


async def schedule_exists(client: Client, sid: str) -> bool:
    try:
        await client.get_schedule_handle(sid).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_an_every_pt1s_schedule_produces_runs_is_listed_and_deleted(
    client: Client, tmp_path: Path
) -> None:
    flow = definition("  every: PT1S\n")
    queue = f"sched-{uuid.uuid4()}"
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    sid = schedule_id(flow)
    assert sid == f"dsl:test/{flow.name}:1.0.0"
    async with running_worker(client, settings, task_queue=queue, definitions=[flow]):
        assert await apply_schedule(client, flow, queue) == sid
        try:
            runs = await until(
                lambda: _at_least(completed_runs(client, flow.name), 2),
                "two scheduled runs never completed",
            )
            result = await client.get_workflow_handle(runs[0].id).result()
            assert result == {"ticked": True}
            assert all(r.id.startswith(f"{flow.name}-scheduled") for r in runs)

            async def listed() -> Any:
                return next((e for e in await list_schedules(client) if e.id == sid), None)

            entry = await until(listed, "the schedule never appeared in the list")
            assert entry.definition == flow.reference and entry.workflow_type == flow.name
            assert entry.every == (timedelta(seconds=1),)
        finally:
            assert await delete_schedule(client, flow)
    assert not await schedule_exists(client, sid)
    assert not await delete_schedule(client, flow)  # a second delete: nothing to delete

    async def gone() -> bool:
        return all(e.id != sid for e in await list_schedules(client))

    await until(gone, "the deleted schedule stayed in the list")


async def _at_least(runs: Awaitable[list[Any]], count: int) -> list[Any] | None:
    found = await runs
    return found if len(found) >= count else None


async def test_a_cron_schedule_is_accepted_and_reapplying_updates_it_in_place(
    client: Client,
) -> None:
    name = f"nightly-{uuid.uuid4().hex[:8]}"
    nightly = definition("  cron: '0 0 * * *'\n", name)
    queue = f"sched-{uuid.uuid4()}"
    sid = await apply_schedule(client, nightly, queue)
    try:
        described = await client.get_schedule_handle(sid).describe()
        spec = described.schedule.spec
        # The server keeps a cron line as calendar specs: midnight, every day.
        assert spec.cron_expressions or spec.calendars
        hourly = definition("  every: PT1H\n", name)
        assert await apply_schedule(client, hourly, queue) == sid  # same id: updated
        updated = (await client.get_schedule_handle(sid).describe()).schedule.spec
        assert [i.every for i in updated.intervals] == [timedelta(hours=1)]
        assert not updated.cron_expressions and not updated.calendars
    finally:
        await delete_schedule(client, nightly)


@pytest.mark.parametrize(
    ("schedule", "kind"),
    [("  after: PT5M\n", "after"), ("  on:\n    one: {with: {type: x}}\n", "on")],
)
def test_after_and_on_are_not_temporal_schedules_but_apply_knows_their_form(
    schedule: str, kind: str
) -> None:
    flow = definition(schedule)
    from workflow_runner.engine.scheduling.schedules import check_schedule, temporal_schedule

    with pytest.raises(ScheduleError) as info:
        temporal_schedule(flow, "q")
    message = str(info.value)
    assert flow.reference in message and f"schedule.{kind} is not a Temporal Schedule" in message
    assert check_schedule(flow, "q") == kind


def test_zigflow_metadata_names_the_schedule_and_its_input() -> None:
    text = (
        "document:\n  dsl: 1.0.0\n  taskQueue: zigflow\n  workflowType: ticker\n"
        "  version: 0.0.1\n  metadata:\n    scheduleId: my-schedule\n"
        "    scheduleWorkflowName: ticker\n    scheduleInput:\n      - msg: [hello]\n"
        "schedule:\n  every: {minutes: 3}\n  cron: '0 0 * * *'\n"
        "do:\n  - wait:\n      wait: {seconds: 1}\n"
    )
    flow = parse_definition(text, "zig.yaml")
    from workflow_runner.engine.scheduling.schedules import temporal_schedule

    schedule = temporal_schedule(flow, "zigflow")
    assert schedule_id(flow) == "my-schedule"
    assert schedule.action.workflow == "ticker"  # type: ignore[attr-defined]
    assert schedule.action.args == [{"msg": ["hello"]}]  # type: ignore[attr-defined]
    assert schedule.spec.cron_expressions == ["0 0 * * *"]
    assert [i.every for i in schedule.spec.intervals] == [timedelta(minutes=3)]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "schedule", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_schedule_command_applies_lists_and_deletes(
    env: dict[str, str], tmp_path: Path
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "flow.yaml"
    path.write_text(
        f"document:\n  dsl: '1.0.0'\n  namespace: test\n  name: {name}\n  version: '2'\n"
        "schedule:\n  cron: '30 2 * * mon'\ndo:\n  - a:\n      set: {}\n"
    )
    sid = f"dsl:test/{name}:2"
    applied = await asyncio.to_thread(_cli, env, str(path))
    assert applied.returncode == 0, applied.stderr
    assert f"schedule {sid} applied" in applied.stderr and "--definitions" in applied.stderr

    async def listed() -> list[Any] | None:
        done = await asyncio.to_thread(_cli, env, "--list")
        assert done.returncode == 0, done.stderr
        found = [e for e in json.loads(done.stdout) if e["id"] == sid]
        return found or None

    (entry,) = await until(listed, "the CLI never listed the schedule", within=60)
    assert entry["definition"] == f"test/{name}:2" and entry["workflowType"] == name
    deleted = await asyncio.to_thread(_cli, env, str(path), "--delete")
    assert deleted.returncode == 0 and f"deleted schedule {sid}" in deleted.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("30 2 * * mon", "30 2 * * funday"))
    refused = await asyncio.to_thread(_cli, env, str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{bad}:7:" in refused.stderr and "day of week field 'funday'" in refused.stderr


async def test_worker_definitions_applies_the_schedule_at_start_and_serves_its_runs(
    env: dict[str, str], tmp_path: Path, client: Client
) -> None:
    import signal

    from tests.processes import read_line

    name = f"served-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "tick.yaml").write_text(
        f"document:\n  dsl: '1.0.0'\n  namespace: test\n  name: {name}\n  version: '1'\n"
        "schedule:\n  every: PT1S\ndo:\n  - a:\n      set: {ok: true}\n"
    )
    worker = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "workflow_runner.cli.main", "worker", "--definitions", str(folder)],
        env={**env, "METRICS_PORT": "0"},
        stderr=subprocess.PIPE,
        text=True,
    )
    sid = f"dsl:test/{name}:1"
    try:
        lines = [await asyncio.to_thread(read_line, worker.stderr) for _ in range(3)]
        assert f"schedule {sid} applied" in lines[-1], lines
        await until(
            lambda: _at_least(completed_runs(client, name), 1),
            "the worker's schedule never produced a run",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)
        await client.get_schedule_handle(sid).delete()
