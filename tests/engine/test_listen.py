"""``listen`` and ``emit`` on the real dev server, driven by clients that know nothing
about this package: a plain temporalio client (default data converter) and the
``temporal`` CLI binary. Queries, updates and signals are the Temporal ones
(handlers registered at run time by the listen task).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.harness import Harness, reached, workflow
from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.worker import PASSTHROUGH_MODULES, running_worker
from workflow_runner.engine.workflow import DslWorkflow
from workflow_runner.runtime.devserver import DevServer, find_temporal_binary

TIMEOUT = "https://serverlessworkflow.io/spec/1.0.0/errors/timeout"

APPROVAL = """document:
  dsl: '1.0.0'
  namespace: demo
  name: approval-flow
  version: '1.0.0'
do:
  - queryState:
      listen:
        to:
          one:
            with:
              id: get_state
              type: query
              data:
                stage: ${ $context.stage }
                approver: ${ $data.approval.by }
  - waiting:
      set:
        stage: waiting
      export:
        as: '${ {stage: .stage} }'
  - approval:
      listen:
        to:
          one:
            with:
              id: approve
              type: signal
              acceptIf: ${ $data.approval.ok }
  - measuring:
      set:
        stage: measuring
      export:
        as: '${ {stage: .stage} }'
  - temperature:
      listen:
        to:
          one:
            with:
              id: temperature
              type: update
              acceptIf: ${ . > 38 }
              data:
                accepted: ${ $data.temperature }
  - done:
      set:
        approval: ${ $data.approval }
        temperature: ${ $data.temperature }
"""


async def poll(read: Callable[[], Any], wanted: Callable[[Any], bool], within: float = 30.0) -> Any:
    """Ask ``read`` until ``wanted`` holds of its answer (the run got there)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            answer = await read()
        except RPCError:  # the query is not registered yet
            answer = None
        if answer is not None and wanted(answer):
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never got there; last answer {answer!r}")
        await asyncio.sleep(0.05)


def update_events(history: Any) -> list[str]:
    return [
        str(e.WhichOneof("attributes"))
        for e in history.events
        if "update" in str(e.WhichOneof("attributes"))
    ]


async def test_a_plain_client_queries_signals_and_updates_zigflow_listeners(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    store = await open_store(settings)
    client = await connect(settings, store, temporal_server.address)
    definition = parse_definition(APPROVAL, str(tmp_path / "approval.yaml"))
    queue = f"listen-{uuid.uuid4()}"
    plain = await Client.connect(temporal_server.address)  # knows nothing of workflow-runner
    temporal = str(find_temporal_binary())
    try:
        async with running_worker(client, settings, task_queue=queue, definitions=[definition]):
            handle: WorkflowHandle[Any, Any] = await plain.start_workflow(
                "approval-flow", {}, id=f"approval-{uuid.uuid4()}", task_queue=queue
            )
            state = await poll(lambda: handle.query("get_state"), lambda s: s["stage"] == "waiting")
            assert state == {"stage": "waiting", "approver": None}
            # No listen waits for this update yet: the caller is told, nothing is recorded.
            with pytest.raises(WorkflowUpdateFailedError) as early:
                await handle.execute_update("temperature", 40)
            assert "'temperature' expected but not found" in str(early.value.cause)
            # acceptIf refuses this one: the listen keeps waiting, nothing is kept.
            await handle.signal("approve", {"ok": False, "by": "mallory"})
            await handle.signal("approve", {"ok": True, "by": "alice"})
            state = await poll(
                lambda: handle.query("get_state"), lambda s: s["stage"] == "measuring"
            )
            assert state == {"stage": "measuring", "approver": "alice"}
            # The temporal CLI asks the same query.
            common = ["--address", temporal_server.address, "--workflow-id", handle.id]
            asked = await asyncio.to_thread(
                subprocess.run,
                [temporal, "workflow", "query", "--name", "get_state", "-o", "json", *common],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert asked.returncode == 0, asked.stderr
            assert json.loads(asked.stdout)["queryResult"] == [state]
            with pytest.raises(WorkflowUpdateFailedError) as rejected:
                await handle.execute_update("temperature", 37)
            assert "rejected by acceptIf of /do/4/temperature" in str(rejected.value.cause)
            assert await handle.execute_update("temperature", 39) == {"accepted": 39}
            result = await handle.result()
            history = await handle.fetch_history()
            with pytest.raises(RPCError):  # the run is over: refused by the server
                await handle.execute_update("temperature", 40)
    finally:
        await store.close()
    assert result == {"approval": {"ok": True, "by": "alice"}, "temperature": 39}
    # The rejected update never entered history: one update, accepted and completed.
    assert update_events(history) == [
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
    ]


async def test_the_temporal_cli_sends_an_update_that_a_listen_answers(
    harness: Harness, temporal_server: DevServer
) -> None:
    text = workflow(
        """
  - ask:
      listen:
        to:
          all:
            - with:
                id: price
                type: update
                data:
                  quoted: ${ $data.price * 2 }
            - with:
                id: confirm
                type: signal
"""
    )
    handle = await harness.start(text)
    await reached(handle, "/do/0/ask")
    temporal = str(find_temporal_binary())
    common = ["--address", temporal_server.address, "--workflow-id", handle.id]
    sent = await asyncio.to_thread(
        subprocess.run,
        [temporal, "workflow", "update", "execute", "--name", "price", "--input", "21",
         "-o", "json", *common],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["result"] == {"quoted": 42}, sent.stdout
    await handle.signal("confirm", "yes")
    assert await handle.result() == [21, "yes"]


LISTEN_TIMES_OUT = """
  - approval:
      metadata:
        timeout: 1s
      listen:
        to:
          one:
            with:
              id: approve
              type: signal
"""


async def test_a_listen_timeout_ends_the_run_with_the_timeout_error_naming_the_listen(
    harness: Harness,
) -> None:
    error = await harness.fail(workflow(LISTEN_TIMES_OUT))
    assert error["type"] == TIMEOUT and error["status"] == 408
    assert error["instance"] == "/do/0/approval" and "/do/0/approval" in error["detail"]


async def test_a_caught_listen_timeout_lets_the_run_go_on(harness: Harness) -> None:
    caught = """
  - guarded:
      try:
        - approval:
            metadata:
              timeout: 500ms
            listen:
              to:
                one:
                  with:
                    id: approve
                    type: signal
      catch:
        errors:
          with:
            status: 408
        do:
          - fallback:
              set:
                approved: false
"""
    assert await harness.run(workflow(caught)) == {"approved": False}


async def test_task_timeout_bounds_a_spec_listen(harness: Harness) -> None:
    text = workflow(
        "  - wait:\n      listen:\n        to:\n          any: []\n          until: ${ false }\n"
        "      timeout:\n        after: PT0.5S\n"
    )
    error = await harness.fail(text)
    assert error["status"] == 408 and error["instance"] == "/do/0/wait"


def cloud_event(type_: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "https://sensor",
            "type": type_, "data": data, **extra}  # fmt: skip


async def test_until_foreach_and_read_modes_over_cloudevents_sent_by_a_plain_client(
    harness: Harness, temporal_server: DevServer
) -> None:
    text = workflow(
        """
  - gather:
      listen:
        to:
          any:
            - with:
                type: com.example.reading
                data: ${ .v > 0 }
          until:
            one:
              with:
                type: com.example.stop
        read: envelope
      foreach:
        item: ev
        at: n
        do:
          - double:
              set:
                v: ${ $ev.data.v * 2 }
                from: ${ $ev.source }
                n: ${ $n }
                sumBefore: ${ $context.sum // 0 }
        export:
          as: '${ {sum: (($context.sum // 0) + .v)} }'
      export:
        as: .
  - rest:
      listen:
        to:
          any: []
          until: (. | length) == 2
        read: raw
      output:
        as: '${ {gathered: $context, raw: .} }'
"""
    )
    handle = await harness.start(text)
    plain = await Client.connect(temporal_server.address)
    other = plain.get_workflow_handle(handle.id)
    # Sent before the listens start or while they run: buffered either way.
    for sent in [
        cloud_event("com.example.reading", {"v": 1}),
        cloud_event("com.example.reading", {"v": -5}),  # refused by the filter: left over
        cloud_event("com.example.reading", {"v": 2}),
        cloud_event("com.example.stop", None),
        cloud_event("com.example.later", "x"),
    ]:
        await other.signal("event", sent)
    assert await handle.result() == {
        "gathered": [
            {"v": 2, "from": "https://sensor", "n": 0, "sumBefore": 0},
            {"v": 4, "from": "https://sensor", "n": 1, "sumBefore": 2},  # foreach.export
        ],
        "raw": [{"v": -5}, "x"],  # what the first listen left, in arrival order
    }


async def test_emit_gives_a_full_envelope_that_a_plain_client_reads_back(
    harness: Harness, temporal_server: DevServer
) -> None:
    text = workflow(
        """
  - announce:
      emit:
        event:
          with:
            source: https://orders.example.com
            type: com.example.order.placed.v1
            subject: ${ .order }
            priority: high
            data:
              order: ${ .order }
  - hear:
      listen:
        to:
          one:
            with:
              type: com\\.example\\.order\\..*
              priority: high
        read: envelope
"""
    )
    handle = await harness.start(text, {"order": "o-7"})
    (heard,) = await handle.result()
    plain = await Client.connect(temporal_server.address)
    (emitted,) = await plain.get_workflow_handle(handle.id).query("emitted_events")
    assert emitted == heard
    assert {"specversion", "id", "source", "type", "time", "datacontenttype", "data"} <= set(heard)
    assert heard["specversion"] == "1.0" and heard["source"] == "https://orders.example.com"
    assert (heard["subject"], heard["priority"], heard["data"]) == ("o-7", "high", {"order": "o-7"})
    uuid.UUID(heard["id"])  # a UUID unless given
    assert heard["time"].startswith("20")


async def test_a_run_with_updates_signals_and_foreach_replays_deterministically(
    harness: Harness,
) -> None:
    text = workflow(
        """
  - state:
      listen:
        to:
          one:
            with:
              id: state
              type: query
              data: ${ $context }
  - measure:
      listen:
        to:
          all:
            - with:
                id: temperature
                type: update
                acceptIf: ${ . > 38 }
                data: ${ $data.temperature }
            - with:
                id: approve
                type: signal
                acceptIf: ${ $data.measure == "yes" }
  - gather:
      listen:
        to:
          any: []
          until: (. | length) == 2
      foreach:
        do:
          - twice:
              set:
                v: ${ $item.v * 2 }
      export:
        as: .
"""
    )
    handle = await harness.start(text)
    await reached(handle, "/do/1/measure")
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("temperature", 30)
    assert await handle.execute_update("temperature", 40) == 40
    await handle.signal("approve", "no")
    await handle.signal("approve", "yes")
    for v in (1, 2):
        await handle.signal("event", cloud_event("com.example.n", {"v": v}))
    assert await handle.result() == [{"v": 2}, {"v": 4}]
    assert await handle.query("state") == [{"v": 2}, {"v": 4}]
    replayer = Replayer(
        workflows=[DslWorkflow],
        data_converter=harness.client.data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    )
    replayed = await replayer.replay_workflow(
        await handle.fetch_history(), raise_on_replay_failure=True
    )
    assert replayed.replay_failure is None
