"""Continue-as-new (issue #14, item 6): long runs carry their state into a new run of the
same workflow id and finish with the output they would have had in one run.

Thresholds are lowered with ``document.metadata.canMaxHistoryLength`` (Zigflow's form)
so a chain forms within seconds; the signals of the listen loop come from a plain
temporalio client that knows nothing about this package.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from tests.engine.fake_io import FakeIO
from tests.harness import Harness, reached, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.runtime.devserver import DevServer


async def chain_of(client: Client, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    """The statuses of every run of ``workflow_id``, oldest first."""
    runs = [r async for r in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    runs.sort(key=lambda r: r.start_time)
    return [r.status for r in runs]


async def wait_for_chain(client: Client, handle: WorkflowHandle[Any, Any]) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:  # visibility lags the runs a little
        statuses = await chain_of(client, handle.id)
        if statuses and statuses[-1] == WorkflowExecutionStatus.COMPLETED:
            return statuses
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.2)


BIG_LOOP = """  - count:
      for:
        in: ${ [range(0; 100000)] }
        each: n
      do:
        - add:
            set:
              sum: ${ .sum + $n }
              last: ${ $n }
        # A durable timer every 10,000 items ends a workflow task, so history grows
        # as it does in a loop that does I/O (a loop of sets alone fits in one task
        # and leaves ~500 events: it never needs to continue as new).
        - breathe:
            if: ${ $n % 10000 == 9999 }
            wait: PT0.001S
      export:
        as: '{loops: 1}'
  - report:
      set:
        sum: ${ .sum }
        last: ${ .last }
        context: ${ $context }
"""


# in make test, as issue #14 asks (the chain of runs is the point)
async def test_a_for_loop_over_100000_items_continues_as_new_and_ends_with_the_right_output(
    harness: Harness,
) -> None:
    text = workflow(BIG_LOOP, extra="  metadata:\n    canMaxHistoryLength: 20\n")
    started = time.monotonic()
    handle = await harness.start(text, {"sum": 0})
    result = await handle.result()  # follows the chain to its last run
    elapsed = time.monotonic() - started
    assert result == {"sum": 4_999_950_000, "last": 99_999, "context": {"loops": 1}}
    statuses = await wait_for_chain(harness.client, handle)
    assert len(statuses) > 1, statuses
    assert statuses[:-1] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * (len(statuses) - 1)
    # the last run's own history is short: the 100,000 iterations were spread over the chain
    last = harness.client.get_workflow_handle(handle.id)
    events = (await last.fetch_history()).events
    assert len(events) < 80, len(events)
    print(f"100,000-item loop: {len(statuses)} runs, {elapsed:.1f} s")


NESTED = """  - outer:
      for:
        in: ${ [range(0; 6)] }
        each: i
      do:
        - inner:
            do:
              - deeper:
                  for:
                    in: ${ [range(0; 4)] }
                    each: j
                  do:
                    - tick:
                        run:
                          shell:
                            command: "true"
                        output:
                          as: ${ $input }
                    - add:
                        set:
                          total: ${ .total + ($i * 100) + $j }
                          visits: ${ .visits + 1 }
"""


async def test_nested_for_and_do_resume_at_the_right_iteration_after_continue_as_new(
    harness: Harness,
) -> None:
    """24 visits across a for, a do and a for, with an activity in each so that history grows,
    and a continue-as-new every few events: an iteration run twice or skipped, or a
    resumed list entered at the wrong task, changes the totals."""
    text = workflow(NESTED, extra="  metadata:\n    canMaxHistoryLength: 12\n")
    handle = await harness.start(text, {"total": 0, "visits": 0})
    result = await handle.result()
    expected = sum(i * 100 + j for i in range(6) for j in range(4))
    assert result == {"total": expected, "visits": 24}
    statuses = await wait_for_chain(harness.client, handle)
    assert len(statuses) > 3, statuses
    # progress notes keep numbering across the chain: `run`'s printer asks from where it was
    notes = await harness.client.get_workflow_handle(handle.id).query("progress")
    assert notes[0]["seq"] > 0 and notes[-1]["task"] == "/do/0/outer", notes[:2]


LISTEN_LOOP = """  - wait:
      listen:
        to:
          one:
            with:
              type: signal
              id: tick
      export:
        as: >-
          {count: (($context.count // 0) + 1),
           total: (($context.total // 0) + ([.. | objects | select(has("n")) | .n][0]))}
  - check:
      switch:
        - done:
            when: ${ $context.count >= 40 }
            then: finish
        - again:
            then: wait
  - finish:
      set: ${ $context }
"""


async def test_a_listen_forever_loop_continues_as_new_and_loses_no_signal(
    harness: Harness, temporal_server: DevServer
) -> None:
    text = workflow(LISTEN_LOOP, extra="  metadata:\n    canMaxHistoryLength: 30\n")
    handle = await harness.start(text)
    await reached(handle, "/do/0/wait")
    plain = await Client.connect(temporal_server.address)  # knows nothing of this package
    signaller = plain.get_workflow_handle(handle.id)  # no run id: the chain's current run
    for n in range(1, 41):
        await signaller.signal("tick", {"n": n})
    result = await handle.result()
    assert result == {"count": 40, "total": 820}
    statuses = await wait_for_chain(harness.client, handle)
    assert len(statuses) > 1, statuses
    first = harness.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    events = (await first.fetch_history()).events
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


QUERY_SURVIVES = """  - registerQuery:
      listen:
        to:
          one:
            with:
              id: get_state
              type: query
              data:
                ticks: ${ $context.ticks }
  - burn:
      for:
        in: ${ [range(0; 8)] }
        each: n
      do:
        - tick:
            run:
              shell:
                command: "true"
            export:
              as: '{ticks: ($n + 1)}'
  - approval:
      listen:
        to:
          one:
            with:
              id: approve
              type: signal
  - done:
      set:
        ticks: ${ $context.ticks }
"""


async def test_a_query_listener_answers_on_every_run_of_the_chain(harness: Harness) -> None:
    """Zigflow's semantics: a listen of queries only registers its handler, and a continued
    run registers it again (the run it was registered on is gone)."""
    text = workflow(QUERY_SURVIVES, extra="  metadata:\n    canMaxHistoryLength: 12\n")
    handle = await harness.start(text)
    current = harness.client.get_workflow_handle(handle.id)  # follows the chain
    deadline = time.monotonic() + 60
    while True:
        described = await current.describe()
        if described.run_id != handle.first_execution_run_id:
            state = await current.query("get_state")
            if state == {"ticks": 8}:
                break
        assert time.monotonic() < deadline, "never continued as new and reached the signal"
        await asyncio.sleep(0.3)
    await current.signal("approve", True)
    assert await handle.result() == {"ticks": 8}
    statuses = await wait_for_chain(harness.client, handle)
    assert len(statuses) > 1, statuses


KEEPS_A_TOKEN = """  - keep:
      set: {{}}
      export:
        as: '${{ {{token: $secrets.api_token}} }}'
  - calls:
      for:
        in: ${{ [range(0; 5)] }}
        each: n
      do:
        - echo:
            call: http
            with:
              method: get
              endpoint: {url}/echo
              headers:
                x-token: ${{ $context.token }}
"""


async def test_a_secret_token_kept_in_the_context_still_resolves_after_continue_as_new(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    """A continued run keeps its chain's secret nonce: a token exported before the chain
    continued is revealed to the server in every later call (a new nonce per run sent
    the token's text instead)."""
    extra = "  metadata:\n    canMaxHistoryLength: 12\nuse:\n  secrets: [api_token]\n"
    text = workflow(KEEPS_A_TOKEN.format(url=http_server.url), extra=extra)
    handle = await harness.start(text)
    await handle.result()
    statuses = await wait_for_chain(harness.client, handle)
    assert len(statuses) > 1, statuses
    tokens = [
        next(v for k, v in r["headers"].items() if k.lower() == "x-token")
        for r in http_server.requests
        if r["path"] == "/echo" and any(k.lower() == "x-token" for k in r["headers"])
    ]
    assert len(tokens) >= 5
    assert set(tokens[-5:]) == {"s3cr3t-value"}, tokens


SLOW_CHAIN = """  - loop:
      for:
        in: ${ [range(0; 8)] }
        each: n
      do:
        - pause:
            wait: PT1S
"""


async def test_the_workflow_timeout_spans_the_whole_continue_as_new_chain(
    harness: Harness,
) -> None:
    """8 one-second waits under a 4 s workflow timeout, continuing as new every two or so:
    when each run restarted the limit, the chain finished in 8 s."""
    extra = "  metadata:\n    canMaxHistoryLength: 12\ntimeout:\n  after:\n    seconds: 4\n"
    began = time.monotonic()
    error = await harness.fail(workflow(SLOW_CHAIN, extra=extra))
    assert error["type"].endswith("/timeout"), error
    assert "0:00:04" in error["detail"], error
    assert time.monotonic() - began < 7.5


def test_the_then_jump_count_is_carried_to_the_next_run_of_a_chain() -> None:
    """MAX_THEN_JUMPS bounds a whole chain: a then cycle cannot reset its count by
    continuing as new."""
    model = parse_definition(workflow("- a: {set: {x: 1}}"), "jumps.yaml").model
    info = {"id": "w", "runId": "r", "definition": {}, "startedAt": {}}
    first = Interpreter(workflow=model, io=FakeIO(), workflow_info=info)
    first.jumps_back, first.runs = 7, 3
    second = Interpreter(workflow=model, io=FakeIO(), workflow_info=info)
    second.resume_from(first.state())
    assert second.jumps_back == 7
