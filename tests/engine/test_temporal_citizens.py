"""Runs as first-class Temporal citizens (issue #14, items 3-5): activity options from the
definition, heartbeats, ``call: activity`` to a worker that knows nothing of this package,
search attributes, memo and ``workflow-runner ls``.

Every test runs on the real dev server; the second party (a plain-SDK activity worker in
its own process, the CLI in its own process) knows nothing about our internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError

from tests.harness import Harness, workflow
from tests.processes import read_line
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.visibility import SearchAttributeNotRegisteredError
from workflow_runner.runtime.devserver import DevServer

PLAIN_WORKER = Path(__file__).parent.parent / "plain_activity_worker.py"
CUSTOM_ATTRIBUTES = {
    "WrOrderId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "WrStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "WrAmount": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def scheduled_activities(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    history = await handle.fetch_history()
    return [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


# -- activity options ---------------------------------------------------------------------


OPTIONS = workflow(
    """  - plain:
      run:
        shell:
          command: echo plain
  - tuned:
      metadata:
        activityOptions:
          heartbeatTimeout: {seconds: 20}
          summary: the tuned one
          priority: {priorityKey: 2, fairnessKey: tenant-a, fairnessWeight: 2.5}
      run:
        shell:
          command: echo tuned
  - spec_retry:
      metadata:
        retry:
          delay: {seconds: 3}
          backoff: {exponential: {}}
          limit: {attempt: {count: 4}, duration: {minutes: 5}}
      run:
        shell:
          command: echo retried
""",
    extra="""  metadata:
    activityOptions:
      startToCloseTimeout: {seconds: 45}
      retryPolicy:
        initialInterval: {seconds: 2}
        backoffCoefficient: 1.5
        maximumInterval: {seconds: 30}
        maximumAttempts: 7
        nonRetryableErrorTypes: [Bad]
""",
)


async def test_activity_options_from_metadata_are_in_the_activity_scheduled_event(
    harness: Harness,
) -> None:
    handle = await harness.start(OPTIONS)
    await handle.result()
    plain, tuned, spec_retry = await scheduled_activities(handle)
    # the document's options apply to every activity
    assert plain.start_to_close_timeout.seconds == 45
    assert plain.retry_policy.maximum_attempts == 7
    assert plain.retry_policy.initial_interval.seconds == 2
    assert plain.retry_policy.backoff_coefficient == 1.5
    assert plain.retry_policy.maximum_interval.seconds == 30
    assert list(plain.retry_policy.non_retryable_error_types) == ["Bad"]
    assert plain.priority.priority_key == 0  # not set: inherited
    # a task's options override field by field
    assert tuned.start_to_close_timeout.seconds == 45
    assert tuned.heartbeat_timeout.seconds == 20
    assert tuned.priority.priority_key == 2
    assert tuned.priority.fairness_key == "tenant-a"
    assert tuned.priority.fairness_weight == pytest.approx(2.5)
    assert tuned.retry_policy.maximum_attempts == 7
    # the DSL's retry form maps onto Temporal's policy; limit.duration bounds the whole call
    assert spec_retry.retry_policy.initial_interval.seconds == 3
    assert spec_retry.retry_policy.backoff_coefficient == 2.0
    assert spec_retry.retry_policy.maximum_attempts == 4
    assert spec_retry.schedule_to_close_timeout.seconds == 300
    history = await handle.fetch_history()
    summaries = [
        e.user_metadata.summary.data if e.user_metadata.HasField("summary") else None
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # the label the Web UI shows: the definition's; none by default (a summary is a
    # payload the SDK encodes, stores and references: CPU on every activity)
    assert summaries == [None, b'"the tuned one"', None]


def test_metadata_problems_are_reported_where_they_are_before_anything_runs() -> None:
    text = workflow(
        """  - a:
      metadata:
        activityOptions:
          startToCloseTimeout: soon
          priority: {priorityKey: 0}
        retry: {backoff: {linear: {}}}
        searchAttributes:
          WrOrderId: ${ .id }
      set: {x: 1}
"""
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "flow.yaml")
    message = str(info.value)
    assert "(/do/0/a/metadata/activityOptions/startToCloseTimeout)" in message
    assert "(/do/0/a/metadata/activityOptions/priority/priorityKey): priorityKey must be 1" in (
        message
    )
    assert "linear backoff has no Temporal equivalent" in message
    assert "(/do/0/a/metadata/searchAttributes/WrOrderId): give the search attribute's type" in (
        message
    )


# -- heartbeats -----------------------------------------------------------------------------


async def test_a_shell_task_heartbeats_while_its_process_outlives_the_heartbeat_timeout(
    harness: Harness,
) -> None:
    """A 4 s process under a 1 s heartbeat timeout and a single attempt: without
    heartbeats Temporal times the attempt out after 1 s and the run fails."""
    text = workflow(
        """  - slow:
      metadata:
        activityOptions:
          heartbeatTimeout: {seconds: 1}
          retryPolicy: {maximumAttempts: 1}
      run:
        shell:
          command: sleep 4 && echo done
"""
    )
    handle = await harness.start(text)
    result = await handle.result()
    assert "done" in json.dumps(result)
    (scheduled,) = await scheduled_activities(handle)
    assert scheduled.heartbeat_timeout.seconds == 1
    assert scheduled.retry_policy.maximum_attempts == 1


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 4.0

    def do_GET(self) -> None:
        time.sleep(self.delay)  # think before the headers: no bytes to stream meanwhile
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slow"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_slow_http_call_heartbeats_while_it_waits_for_the_response(
    harness: Harness,
) -> None:
    with slow_server() as url:
        text = workflow(
            f"""  - slow:
      metadata:
        activityOptions:
          heartbeatTimeout: {{seconds: 1}}
          retryPolicy: {{maximumAttempts: 1}}
      call: http
      with:
        method: get
        endpoint: {url}
"""
        )
        handle = await harness.start(text)
        assert await handle.result() == {"ok": True}
    (scheduled,) = await scheduled_activities(handle)
    assert scheduled.heartbeat_timeout.seconds == 1


# -- call: activity -------------------------------------------------------------------------


@contextlib.contextmanager
def plain_worker(server: DevServer, queue: str, blob_root: Path) -> Iterator[None]:
    """The plain-SDK worker script, in its own process; stopped (SIGTERM) at the end."""
    proc = subprocess.Popen(
        [sys.executable, str(PLAIN_WORKER), server.address, "default", queue, str(blob_root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(proc.stdout, within=60).strip() == "ready", proc.stderr
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CALL_ACTIVITY = """  - who:
      call: activity
      with:
        name: profiles.FetchProfile
        taskQueue: {queue}
        arguments:
          - ${{ .userId }}
          - req-1
      export:
        as: '{{profile: .}}'
  - big:
      call: activity
      with:
        name: profiles.BigDocument
        taskQueue: {queue}
        arguments: [20000]
        options:
          startToCloseTimeout: {{seconds: 60}}
          retryPolicy: {{maximumAttempts: 2}}
      output:
        as: '{{profile: $context.profile, count: (.items | length), last: .items[-1].n}}'
"""


async def test_call_activity_reaches_a_plain_sdk_worker_and_its_large_result_stays_out_of_history(
    harness: Harness, temporal_server: DevServer
) -> None:
    queue = f"plain-{uuid.uuid4()}"
    text = workflow(CALL_ACTIVITY.format(queue=queue))
    with plain_worker(temporal_server, queue, harness.directory / "blobs"):
        handle = await harness.start(text, {"userId": 7})
        result = await handle.result()
    assert result == {
        "profile": {"id": 7, "name": "user 7", "requestId": "req-1"},
        "count": 20000,
        "last": 19999,
    }
    scheduled = await scheduled_activities(handle)
    assert [s.activity_type.name for s in scheduled] == [
        "profiles.FetchProfile",
        "profiles.BigDocument",
    ]
    assert scheduled[1].task_queue.name == queue
    assert scheduled[1].start_to_close_timeout.seconds == 60
    assert scheduled[1].retry_policy.maximum_attempts == 2
    history = await handle.fetch_history()
    size = len(history.to_json())
    document_size = len(
        json.dumps([{"n": i, "text": f"line {i} " + "x" * 40} for i in range(20000)])
    )
    assert document_size > 1_000_000
    assert size < 30_000, f"history is {size} bytes: the 1 MB result went into it"
    print(f"call: activity, {document_size:,} B result: history {size:,} B")
    completed = [
        e.activity_task_completed_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    reference = completed[1].result.payloads[0]
    assert reference.metadata["encoding"] == b"json/protobuf"
    assert b"workflow-runner.claimcheck" in reference.data
    blobs = [p for p in (harness.directory / "blobs").rglob("*") if p.is_file()]
    assert any(p.stat().st_size > 10_000 for p in blobs), "the result's blob is in the store"


async def test_call_activity_with_no_worker_on_its_queue_fails_on_its_schedule_to_start_timeout(
    harness: Harness,
) -> None:
    text = workflow(
        """  - nobody:
      call: activity
      with:
        name: nowhere.Nothing
        taskQueue: nobody-polls-this
        options:
          scheduleToStartTimeout: {seconds: 1}
          retryPolicy: {maximumAttempts: 1}
"""
    )
    error = await harness.fail(text)
    assert error["instance"] == "/do/0/nobody"
    assert "timeout" in json.dumps(error).lower()


# -- search attributes, memo, ls -----------------------------------------------------------


async def register_attributes(client: Client) -> None:
    with contextlib.suppress(RPCError):  # already there from an earlier test of the session
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace="default", search_attributes=CUSTOM_ATTRIBUTES)
        )


SEARCHABLE = """  - pack:
      metadata:
        searchAttributes:
          WrStage: {type: keyword, value: packed}
          WrAmount: {type: int, value: '${ .amount * 2 }'}
        memo:
          packedBy: '${ .clerk }'
      set:
        packed: true
"""


def searchable(order: str) -> str:
    return workflow(
        SEARCHABLE,
        extra=f"""  metadata:
    searchAttributes:
      WrOrderId: {order}
    memo:
      channel: web
""",
    )


async def test_search_attributes_and_memo_are_set_at_start_and_updated_by_a_task(
    harness: Harness,
) -> None:
    await register_attributes(harness.client)
    order = f"A-{uuid.uuid4().hex[:8]}"
    handle = await harness.start(searchable(order), {"amount": 21, "clerk": "Ada"})
    await handle.result()
    described = await handle.describe()
    attributes = {pair.key.name: pair.value for pair in described.typed_search_attributes}
    assert attributes["WrOrderId"] == order
    assert attributes["WrStage"] == "packed"
    assert attributes["WrAmount"] == 42
    assert await described.memo() == {"channel": "web", "packedBy": "Ada"}


async def test_ls_query_finds_a_run_by_a_custom_search_attribute(
    harness: Harness, env: dict[str, str]
) -> None:
    await register_attributes(harness.client)
    order = f"B-{uuid.uuid4().hex[:8]}"
    handle = await harness.start(searchable(order), {"amount": 1, "clerk": "Bo"})
    await handle.result()
    other = await harness.start(
        searchable(f"C-{uuid.uuid4().hex[:8]}"), {"amount": 1, "clerk": "C"}
    )
    await other.result()
    query = f'WrOrderId = "{order}"'
    deadline = time.monotonic() + 30
    while True:  # visibility is eventually consistent
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "workflow_runner.cli.main", "ls", "--query", query, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        runs = json.loads(proc.stdout)
        if runs or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert [r["id"] for r in runs] == [handle.id]
    assert runs[0]["type"] == "DslWorkflow"
    assert runs[0]["status"] == "COMPLETED"
    assert runs[0]["searchAttributes"]["WrOrderId"] == order
    table = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workflow_runner.cli.main", "ls", "-q", query, "--limit", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (line,) = table.stdout.splitlines()
    assert line.split("\t")[:3] == [handle.id, "DslWorkflow", "COMPLETED"]


async def test_ls_with_a_malformed_query_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workflow_runner.cli.main", "ls", "--query", "WrOrderId = = 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "invalid --query" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


async def test_an_unregistered_search_attribute_refuses_the_start_naming_it(
    harness: Harness,
) -> None:
    text = workflow(
        """  - a:
      metadata:
        searchAttributes:
          WrNeverRegistered: {type: keyword, value: x}
      set: {x: 1}
"""
    )
    with pytest.raises(SearchAttributeNotRegisteredError) as info:
        await harness.start(text)
    message = str(info.value)
    assert "/do/0/a/metadata: search attribute 'WrNeverRegistered' is not registered" in message
    assert "temporal operator search-attribute create --name WrNeverRegistered --type Keyword" in (
        message
    )


async def test_a_search_attribute_value_of_the_wrong_type_fails_the_run_naming_it(
    harness: Harness,
) -> None:
    await register_attributes(harness.client)
    text = workflow(
        """  - a:
      metadata:
        searchAttributes:
          WrAmount: {type: int, value: '${ .word }'}
      set: {x: 1}
"""
    )
    handle = await harness.start(text, {"word": "many"})
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "search attribute 'WrAmount' (int) cannot take 'many'" in str(info.value.cause)
