"""``schedule.on`` (the event router) and ``schedule.after`` (the loop) on the session's
dev server, with a real worker.

"Nothing started" is checked after a positive control: the router handles
events in arrival order, so once a later matching event's run exists, every
earlier event was already decided. Waiting is a poll with a deadline.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, WorkflowExecution

from workflow_runner.claimcheck import open_store
from workflow_runner.config import Settings, load_settings
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import Definition, parse_definition
from workflow_runner.engine.scheduling.schedules import (
    apply_schedule,
    delete_schedule,
    list_schedules,
    send_event,
)
from workflow_runner.engine.scheduling.triggers import Trigger, router_id, run_id_for
from workflow_runner.engine.worker import running_worker
from workflow_runner.runtime.devserver import DevServer

T = TypeVar("T")
KEEP_INPUT = "do:\n  - keep:\n      set: {events: '${ $workflow.input }'}\n"


def definition(name: str, schedule: str | None, body: str = KEEP_INPUT) -> Definition:
    text = f"document:\n  dsl: '1.0.0'\n  namespace: test\n  name: {name}\n  version: '1'\n"
    if schedule is not None:
        text += f"schedule:\n{schedule}"
    return parse_definition(text + body, f"{name}.yaml")


def cloud_event(kind: str, data: Any, event_id: str | None = None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or uuid.uuid4().hex,
        "source": "tests",
        "type": kind,
        "data": data,
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})


@pytest.fixture
async def client(temporal_server: DevServer, settings: Settings) -> AsyncIterator[Client]:
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


async def runs_of(client: Client, workflow_type: str, status: str | None = None) -> list[Any]:
    query = f"WorkflowType = '{workflow_type}'"
    if status:
        query += f" AND ExecutionStatus = '{status}'"
    return [w async for w in client.list_workflows(query)]


def completed(client: Client, workflow_type: str, count: int) -> Callable[[], Awaitable[Any]]:
    async def check() -> list[WorkflowExecution] | None:
        found = await runs_of(client, workflow_type, "Completed")
        return found if len(found) >= count else None

    return check


async def inputs_of(client: Client, runs: list[WorkflowExecution]) -> list[list[Any]]:
    """Each run's input events (the definition keeps them as its output), oldest first."""
    ordered = sorted(runs, key=lambda r: r.start_time)
    return [(await client.get_workflow_handle(r.id).result())["events"] for r in ordered]


def new_queue() -> str:
    return f"events-{uuid.uuid4()}"


async def test_an_emit_from_a_run_starts_the_event_driven_definition_with_the_event_as_input(
    client: Client, settings: Settings
) -> None:
    kind = f"com.example.order.{uuid.uuid4().hex[:8]}"
    target = definition(
        f"on-order-{uuid.uuid4().hex[:8]}",
        f"  on:\n    one:\n      with: {{type: {kind}}}\n",
        "do:\n  - keep:\n      set:\n        first: '${ $workflow.input[0] }'\n"
        "        count: '${ $workflow.input | length }'\n",
    )
    emitter = definition(
        f"emitter-{uuid.uuid4().hex[:8]}",
        None,
        f"do:\n  - tell:\n      emit:\n        event:\n          with:\n            type: {kind}\n"
        "            source: shop\n            data: {order: 7}\n",
    )
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[target, emitter]):
        sid = await apply_schedule(client, target, queue)
        try:
            emitted = await client.execute_workflow(
                emitter.name, id=f"emitter-{uuid.uuid4()}", task_queue=queue
            )
            (run,) = await until(completed(client, target.name, 1), "no run started")
            result = await client.get_workflow_handle(run.id).result()
            assert result == {"first": emitted, "count": 1}
            assert emitted["type"] == kind and emitted["data"] == {"order": 7}

            async def listed() -> Any:
                entries = await list_schedules(client)
                return next((e for e in entries if e.id == sid and e.on is not None), None)

            entry = await until(listed, "the trigger was never listed")
            assert entry.on == {"one": {"with": {"type": kind}}} and entry.task_queue == queue
            assert entry.workflow_type == target.name and entry.definition == target.reference
        finally:
            assert await delete_schedule(client, target, queue)

        async def router_closed() -> bool:
            described = await client.get_workflow_handle(router_id(queue)).describe()
            return described.close_time is not None

        await until(router_closed, "the router outlived its last trigger")
    assert not await send_event(client, queue, cloud_event(kind, {}))  # no router: no one


def _emit_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "emit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_workflow_runner_emit_without_a_workflow_id_starts_the_event_driven_definition(
    client: Client, settings: Settings, env: dict[str, str]
) -> None:
    kind = f"com.example.alarm.{uuid.uuid4().hex[:8]}"
    target = definition(
        f"on-alarm-{uuid.uuid4().hex[:8]}", f"  on:\n    any:\n      - with: {{type: {kind}}}\n"
    )
    queue = env["TEMPORAL_TASK_QUEUE"]
    nobody = await asyncio.to_thread(
        _emit_cli, env, "--type", kind, "--data", '{"level": 1}'
    )  # before any registration: no router on the queue
    assert nobody.returncode == 0 and "the event started nothing" in nobody.stderr
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        await apply_schedule(client, target, queue)
        try:
            sent = await asyncio.to_thread(
                _emit_cli, env, "--type", kind, "--data", '{"level": 3}', "--source", "pager"
            )
            assert sent.returncode == 0, sent.stderr
            assert f"to the event router of task queue {queue}" in sent.stderr
            runs = await until(completed(client, target.name, 1), "the CLI's event started no run")
            ((event,),) = await inputs_of(client, runs)
            assert event["type"] == kind and event["data"] == {"level": 3}
            assert event["source"] == "pager"
        finally:
            await delete_schedule(client, target, queue)


async def test_a_non_matching_event_starts_nothing(client: Client, settings: Settings) -> None:
    kind = f"com.example.vitals.{uuid.uuid4().hex[:8]}"
    target = definition(
        f"on-fever-{uuid.uuid4().hex[:8]}",
        f"  on:\n    one:\n      with:\n        type: {kind}\n"
        "        data: '${ .temperature > 38 }'\n",
    )
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        await apply_schedule(client, target, queue)
        try:
            assert await send_event(
                client, queue, cloud_event(f"{kind}.other", {"temperature": 40})
            )
            assert await send_event(client, queue, cloud_event(kind, {"temperature": 36}))
            assert await send_event(client, queue, cloud_event(kind, {"temperature": 39}))
            await until(completed(client, target.name, 1), "the matching event started no run")
            runs = await runs_of(client, target.name)
            assert len(runs) == 1, [r.id for r in runs]
            ((event,),) = await inputs_of(client, runs)
            assert event["data"] == {"temperature": 39}
        finally:
            await delete_schedule(client, target, queue)


async def test_all_starts_a_run_only_once_every_filter_consumed_a_correlated_event(
    client: Client, settings: Settings
) -> None:
    tag = uuid.uuid4().hex[:8]
    placed, paid = f"order.placed.{tag}", f"order.paid.{tag}"
    target = definition(
        f"on-both-{tag}",
        "  on:\n    all:\n"
        f"      - with: {{type: {placed}}}\n        correlate: {{order: {{from: .data.id}}}}\n"
        f"      - with: {{type: {paid}}}\n        correlate: {{order: {{from: .data.id}}}}\n",
    )
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        await apply_schedule(client, target, queue)
        try:
            for sent in (
                cloud_event(placed, {"id": 1}, "p1"),
                cloud_event(placed, {"id": 2}, "p2"),
                cloud_event(paid, {"id": 2}, "b2"),
            ):
                assert await send_event(client, queue, sent)
            await until(completed(client, target.name, 1), "the complete group started no run")
            runs = await runs_of(client, target.name)
            assert len(runs) == 1, "a run started before every filter had its event"
            assert [[e["id"] for e in events] for events in await inputs_of(client, runs)] == [
                ["p2", "b2"]
            ]
            assert await send_event(client, queue, cloud_event(paid, {"id": 1}, "b1"))
            runs = await until(completed(client, target.name, 2), "order 1 never completed")
            ids = [[e["id"] for e in events] for events in await inputs_of(client, runs)]
            assert ids == [["p2", "b2"], ["p1", "b1"]]  # filter order, whatever the arrival
        finally:
            await delete_schedule(client, target, queue)


async def test_the_same_event_delivered_twice_starts_one_run(
    client: Client, settings: Settings
) -> None:
    kind = f"com.example.ping.{uuid.uuid4().hex[:8]}"
    target = definition(
        f"on-ping-{uuid.uuid4().hex[:8]}", f"  on:\n    one:\n      with: {{type: {kind}}}\n"
    )
    queue = new_queue()
    twice = cloud_event(kind, {"n": 1}, "ping-1")
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        await apply_schedule(client, target, queue)
        try:
            assert await send_event(client, queue, twice)
            assert await send_event(client, queue, dict(twice))
            assert await send_event(client, queue, cloud_event(kind, {"n": 2}, "ping-2"))
            await until(completed(client, target.name, 2), "the control event started no run")
            runs = await runs_of(client, target.name)
            events = await inputs_of(client, runs)
            assert sorted(e[0]["id"] for e in events) == ["ping-1", "ping-2"]
        finally:
            await delete_schedule(client, target, queue)
    # Past the router's memory (a new router, a retried start): the run's id is the same.
    trigger = Trigger("dsl:test/x:1", "x", {"one": {"with": {"type": kind}}})
    assert run_id_for(trigger, [twice]) == run_id_for(trigger, [dict(twice)])
    assert run_id_for(trigger, [twice]) != run_id_for(trigger, [{**twice, "id": "ping-2"}])


async def test_after_runs_again_at_least_the_delay_after_the_previous_run_ended(
    client: Client, settings: Settings
) -> None:
    target = definition(
        f"again-{uuid.uuid4().hex[:8]}",
        "  after: PT2S\n",
        "do:\n  - nap:\n      wait: {seconds: 1}\n  - done:\n      set: {ok: true}\n",
    )
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        sid = await apply_schedule(client, target, queue)
        assert await apply_schedule(client, target, queue) == sid  # re-applying: no second loop
        try:
            runs = await until(completed(client, target.name, 2), "two runs never ended", 60)
            first, second = sorted(runs, key=lambda r: r.start_time)[:2]
            assert first.close_time is not None
            assert second.start_time - first.close_time >= timedelta(seconds=2)
            assert first.close_time - first.start_time >= timedelta(seconds=1)  # it did wait

            async def listed() -> Any:
                entries = await list_schedules(client)
                return next((e for e in entries if e.id == sid), None)

            entry = await until(listed, "the loop was never listed")
            assert entry.after == timedelta(seconds=2) and entry.task_queue == queue
            assert entry.workflow_type == target.name
        finally:
            assert await delete_schedule(client, target, queue)
    assert not await delete_schedule(client, target, queue)  # nothing left to delete
    loops = await runs_of(client, "workflow-runner-after", "Running")
    assert all(w.id != sid for w in loops)


async def test_reapplying_with_another_kind_replaces_the_old_form(
    client: Client, settings: Settings
) -> None:
    name = f"switch-{uuid.uuid4().hex[:8]}"
    looping = definition(name, "  after: PT1H\n")
    triggered = definition(name, "  on:\n    one: {with: {type: never.sent}}\n")
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[looping]):
        sid = await apply_schedule(client, looping, queue)
        assert (await client.get_workflow_handle(sid).describe()).close_time is None
        assert await apply_schedule(client, triggered, queue) == sid
        loop = await client.get_workflow_handle(sid).describe()
        assert loop.close_time is not None  # the loop was terminated: an on trigger now

        async def registered() -> bool:
            triggers = await client.get_workflow_handle(router_id(queue)).query("triggers")
            return [t["id"] for t in triggers] == [sid]

        await until(registered, "the trigger never reached the router")
        assert await delete_schedule(client, triggered, queue)


async def test_worker_definitions_registers_the_trigger_and_serves_the_runs_it_starts(
    env: dict[str, str], tmp_path: Path, client: Client
) -> None:
    import signal

    from tests.processes import read_line

    tag = uuid.uuid4().hex[:8]
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "on.yaml").write_text(
        f"document:\n  dsl: '1.0.0'\n  namespace: test\n  name: served-on-{tag}\n"
        f"  version: '1'\nschedule:\n  on:\n    one:\n      with: {{type: hello.{tag}}}\n"
        "do:\n  - a:\n      set: {who: '${ $workflow.input[0].data.who }'}\n"
    )
    worker = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "workflow_runner.cli.main", "worker", "--definitions", str(folder)],
        env={**env, "METRICS_PORT": "0"},
        stderr=subprocess.PIPE,
        text=True,
    )
    sid = f"dsl:test/served-on-{tag}:1"
    try:
        lines = [await asyncio.to_thread(read_line, worker.stderr) for _ in range(3)]
        assert f"schedule {sid} applied" in lines[-1], lines
        sent = await asyncio.to_thread(
            _emit_cli, env, "--type", f"hello.{tag}", "--data", '{"who": "ada"}'
        )
        assert sent.returncode == 0 and "event router" in sent.stderr, sent.stderr
        (run,) = await until(completed(client, f"served-on-{tag}", 1), "no run", 60)
        assert await client.get_workflow_handle(run.id).result() == {"who": "ada"}
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)
        router = client.get_workflow_handle(router_id(env["TEMPORAL_TASK_QUEUE"]))
        await router.terminate(reason="test over")


async def test_the_router_continues_as_new_carrying_partial_matches_and_seen_events(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflow_runner.engine.scheduling import triggers

    monkeypatch.setattr(triggers, "EVENTS_PER_RUN", 2)  # read by the in-process worker
    tag = uuid.uuid4().hex[:8]
    first, second = f"first.{tag}", f"second.{tag}"
    target = definition(
        f"on-pair-{tag}",
        f"  on:\n    all:\n      - with: {{type: {first}}}\n      - with: {{type: {second}}}\n",
    )
    queue = new_queue()
    async with running_worker(client, settings, task_queue=queue, definitions=[target]):
        await apply_schedule(client, target, queue)
        try:
            router = client.get_workflow_handle(router_id(queue))
            started_as = (await router.describe()).run_id
            assert await send_event(client, queue, cloud_event(first, {}, "a"))
            for n in range(4):  # unrelated events: the router continues as new twice
                assert await send_event(client, queue, cloud_event(f"noise.{tag}", n))
            assert await send_event(client, queue, cloud_event(first, {}, "a"))  # seen: ignored

            async def continued() -> bool:
                return (await router.describe()).run_id != started_as

            await until(continued, "the router never continued as new")
            assert await send_event(client, queue, cloud_event(second, {}, "b"))
            runs = await until(completed(client, target.name, 1), "the carried group never ran")
            assert [[e["id"] for e in ev] for ev in await inputs_of(client, runs)] == [["a", "b"]]
            assert await send_event(client, queue, cloud_event(second, {}, "b2"))
            assert await send_event(client, queue, cloud_event(first, {}, "a2"))
            runs = await until(completed(client, target.name, 2), "the control pair never ran")
            ids = [[e["id"] for e in ev] for ev in await inputs_of(client, runs)]
            assert ids == [["a", "b"], ["a2", "b2"]]  # the resent "a" did not pair with "b2"
        finally:
            await delete_schedule(client, target, queue)


@pytest.mark.parametrize("name", ["workflow-runner-events", "workflow-runner-after"])
def test_a_definition_cannot_take_the_name_of_the_router_or_the_loop(name: str) -> None:
    from workflow_runner.engine.registry import DefinitionConflictError, serve

    with pytest.raises(DefinitionConflictError, match=f"the name '{name}' is reserved for"):
        serve([definition(name, None)])


def _schedule_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "schedule", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_schedule_command_applies_lists_and_deletes_after_and_on(
    env: dict[str, str], tmp_path: Path, client: Client
) -> None:
    import json

    tag = uuid.uuid4().hex[:8]
    header = "document:\n  dsl: '1.0.0'\n  namespace: test\n  name: {}\n  version: '1'\n"
    (tmp_path / "after.yaml").write_text(
        header.format(f"cli-after-{tag}") + "schedule:\n  after: PT90S\n" + KEEP_INPUT
    )
    (tmp_path / "on.yaml").write_text(
        header.format(f"cli-on-{tag}")
        + f"schedule:\n  on:\n    one: {{with: {{type: t.{tag}}}}}\n"
        + KEEP_INPUT
    )
    for file, when in (("after.yaml", "again after each run ends"), ("on.yaml", "its events")):
        applied = await asyncio.to_thread(_schedule_cli, env, str(tmp_path / file))
        assert applied.returncode == 0 and when in applied.stderr, applied.stderr

    async def listed() -> dict[str, Any] | None:
        done = await asyncio.to_thread(_schedule_cli, env, "--list")
        assert done.returncode == 0, done.stderr
        found = {e["id"]: e for e in json.loads(done.stdout) if tag in e["id"]}
        return found if len(found) == 2 else None

    entries = await until(listed, "the CLI never listed both", within=60)
    queue = env["TEMPORAL_TASK_QUEUE"]
    assert entries[f"dsl:test/cli-after-{tag}:1"] == {
        "id": f"dsl:test/cli-after-{tag}:1",
        "definition": f"test/cli-after-{tag}:1",
        "workflowType": f"cli-after-{tag}",
        "after": "PT90S",
        "taskQueue": queue,
    }
    assert entries[f"dsl:test/cli-on-{tag}:1"]["on"] == {"one": {"with": {"type": f"t.{tag}"}}}
    for file in ("after.yaml", "on.yaml"):
        deleted = await asyncio.to_thread(_schedule_cli, env, str(tmp_path / file), "--delete")
        assert deleted.returncode == 0 and "deleted schedule" in deleted.stderr, deleted.stderr
    # No worker ran on this queue: the router still holds its (removed) trigger's signal.
    await client.get_workflow_handle(router_id(queue)).terminate(reason="test over")
