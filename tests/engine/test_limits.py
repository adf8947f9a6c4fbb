"""Runaway expressions, long and endless loops, oversized outputs (issue 10, items 8, 10, 11).

Each run happens on the real dev server with an in-process worker. Every
workflow that must fail is awaited with a deadline: on the code before these
fixes they hung (a frozen worker, a workflow task retried for ever).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflow_runner.engine.workflow as workflow_module
from tests.harness import Harness, make_harness, workflow
from workflow_runner.engine.limits import WORK_PER_YIELD
from workflow_runner.engine.worker import PASSTHROUGH_MODULES
from workflow_runner.engine.workflow import PROGRESS_WINDOW, DslWorkflow
from workflow_runner.runtime.devserver import DevServer

DEADLINE = 60.0


@pytest.fixture
async def small_limits(temporal_server: DevServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """A worker with small limits, so that breaking them is quick."""
    async with make_harness(
        temporal_server,
        tmp_path,
        CLAIMCHECK_MAX_PAYLOAD_BYTES="400000",
        EXPRESSION_TIMEOUT_SECONDS="2.5",
        EXPRESSION_MAX_MEMORY_MB="64",
        MAX_THEN_JUMPS="300",
    ) as h:
        yield h


async def failure_of(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The spec error a run failed with; fails the test if it does not fail in time."""
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), DEADLINE)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.details, cause
    error: dict[str, Any] = cause.details[0]
    return error


async def event_counts(handle: WorkflowHandle[Any, Any]) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(
        str(e.WhichOneof("attributes")).removesuffix("_event_attributes") for e in history.events
    )


# -- item 8: expressions that never end ------------------------------------------------


async def test_an_endless_expression_fails_its_task_within_the_inline_budget(
    harness: Harness,
) -> None:
    began = time.monotonic()
    handle = await harness.start(
        workflow("  - spin:\n      set:\n        x: ${ until(false; .) }\n")
    )
    error = await failure_of(handle)
    assert error["type"].endswith("/expression")
    assert error["instance"] == "/do/0/spin/set/x"
    assert "until(false; .)" in error["detail"] and "1 s" in error["detail"]
    assert "deadlock detector" in error["detail"]
    assert time.monotonic() - began < 15
    assert (await event_counts(handle))["workflow_task_failed"] == 0


async def test_an_endless_expression_on_a_big_input_gets_the_configured_budget(
    small_limits: Harness,
) -> None:
    """Inputs over 256 KiB go to a local activity, which has EXPRESSION_TIMEOUT_SECONDS."""
    big = {"rows": ["x" * 100 for _ in range(3000)]}  # ~310 KB
    began = time.monotonic()
    handle = await small_limits.start(
        workflow("  - spin:\n      set:\n        x: ${ .rows | until(false; .) }\n"), big
    )
    error = await failure_of(handle)
    took = time.monotonic() - began
    assert error["type"].endswith("/expression")
    assert "2.5 s (EXPRESSION_TIMEOUT_SECONDS)" in error["detail"]
    assert 2.5 <= took < 20, took
    assert (await event_counts(handle))["workflow_task_failed"] == 0


async def test_an_expression_over_its_memory_budget_fails_naming_the_budget(
    small_limits: Harness,
) -> None:
    handle = await small_limits.start(
        workflow("  - grow:\n      set:\n        x: '${ \"x\" * 1e9 | length }'\n")
    )
    error = await failure_of(handle)
    assert "memory budget of 64 MiB (EXPRESSION_MAX_MEMORY_MB)" in error["detail"]


async def test_expressions_still_work_after_a_runaway_one_was_killed(harness: Harness) -> None:
    text = workflow(
        "  - guarded:\n"
        "      try:\n"
        "        - spin:\n"
        "            set:\n"
        "              x: ${ [repeat(.)] }\n"
        "      catch:\n"
        "        as: e\n"
        "        do:\n"
        "          - recover:\n"
        "              set:\n"
        '                kind: ${ $e.type | split("/") | last }\n'
        "                n: ${ [range(5)] | add }\n"
    )
    assert await asyncio.wait_for(harness.run(text), DEADLINE) == {"kind": "expression", "n": 10}


# -- item 10: long loops, endless loops ------------------------------------------------


async def test_a_for_over_100000_items_completes_with_a_small_history(harness: Harness) -> None:
    """Before: the whole loop ran in one workflow task and tripped the deadlock detector."""
    items = list(range(100_000))
    text = workflow(
        "  - loop:\n"
        "      for:\n"
        "        in: ${ .items }\n"
        "      do:\n"
        "        - keep:\n"
        "            set:\n"
        "              last: ${ $item }\n"
        "  - check:\n"
        "      set:\n"
        "        last: ${ .last }\n"
        "        even: ${ .last % 2 == 0 }\n"
    )
    began = time.monotonic()
    handle = await harness.start(text, {"items": items})
    assert await asyncio.wait_for(handle.result(), 120) == {"last": 99_999, "even": False}
    took = time.monotonic() - began
    counts = await event_counts(handle)
    total = sum(counts.values())
    print(f"\n100,000 items: {took:.1f} s, {total} history events {dict(counts)}")
    assert counts["workflow_task_failed"] == 0
    assert counts["marker_recorded"] >= 100_000 // WORK_PER_YIELD  # it yielded between batches
    assert total < 500


async def test_a_loop_that_yields_between_batches_replays_without_nondeterminism(
    harness: Harness,
) -> None:
    text = workflow(
        "  - loop:\n"
        "      for:\n"
        "        in: ${ [range(3000)] }\n"
        "      do:\n"
        "        - add:\n"
        "            set: '${ {total: ((.total // 0) + $item)} }'\n"
    )
    handle = await harness.start(text)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == {"total": sum(range(3000))}
    replayer = Replayer(
        workflows=[DslWorkflow],
        data_converter=harness.client.data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    )
    result = await replayer.replay_workflow(await handle.fetch_history())
    assert result.replay_failure is None


async def test_an_endless_then_cycle_fails_with_max_then_jumps_named(
    small_limits: Harness,
) -> None:
    text = workflow(
        "  - bump:\n"
        "      set:\n"
        "        go: ${ .go }\n"
        "        n: ${ (.n // 0) + 1 }\n"
        "  - again:\n"
        "      switch:\n"
        "        - more:\n"
        "            when: ${ .go }\n"
        "            then: bump\n"
        "        - done:\n"
        "            then: end\n"
    )
    handle = await small_limits.start(text, {"go": True})
    error = await failure_of(handle)
    assert error["type"].endswith("/runtime")
    assert "MAX_THEN_JUMPS (300)" in error["detail"]
    assert "'again' to 'bump'" in error["detail"]
    assert error["instance"] == "/do/1/again"


async def test_a_bounded_then_cycle_is_not_cut_short(small_limits: Harness) -> None:
    text = workflow(
        "  - bump:\n"
        "      set:\n"
        "        n: ${ (.n // 0) + 1 }\n"
        "      then: check\n"
        "  - check:\n"
        "      switch:\n"
        "        - more:\n"
        "            when: ${ .n < 300 }\n"
        "            then: bump\n"
    )
    assert await asyncio.wait_for(small_limits.run(text), DEADLINE) == {"n": 300}


async def test_progress_keeps_a_bounded_window_that_callers_can_follow_by_seq(
    harness: Harness,
) -> None:
    count = 3 * PROGRESS_WINDOW
    text = workflow(
        "  - loop:\n      for:\n        in: ${ .items }\n      do:\n"
        "        - keep:\n            set:\n              last: ${ $item }\n"
    )
    handle = await harness.start(text, {"items": list(range(count))})
    await asyncio.wait_for(handle.result(), DEADLINE)
    notes = await handle.query("progress", 0)
    total = 2 + 2 * count  # started and completed for the loop and for every item
    assert len(notes) <= 2 * PROGRESS_WINDOW
    assert [n["seq"] for n in notes] == list(range(total - len(notes), total))
    assert notes[-1] == {**notes[-1], "task": "/do/0/loop", "status": "completed"}
    tail = await handle.query("progress", total - 3)
    assert [n["seq"] for n in tail] == [total - 3, total - 2, total - 1]
    assert await handle.query("progress", total) == []


# -- item 11: outputs too large --------------------------------------------------------


async def test_an_output_over_the_payload_limit_fails_the_run_once_naming_the_setting(
    small_limits: Harness,
) -> None:
    """Before: encoding the completion failed the workflow task, retried for ever."""
    began = time.monotonic()
    handle = await small_limits.start(
        workflow("  - grow:\n      set:\n        blob: '${ \"x\" * 500000 }'\n")
    )
    error = await failure_of(handle)
    assert time.monotonic() - began < 15
    assert "CLAIMCHECK_MAX_PAYLOAD_BYTES (400000 bytes)" in error["detail"]
    assert "the workflow's output" in error["detail"]
    assert error["title"] == "Payload too large"
    counts = await event_counts(handle)
    assert counts["workflow_task_failed"] == 0 and counts["workflow_execution_failed"] == 1


async def test_a_refused_output_still_gives_its_memory_back_as_the_run_ends(
    small_limits: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run held the refused output: the trim that returns freed pages to the OS is
    scheduled as for any large run (it was skipped when the refusal came first)."""
    trims: list[int] = []
    monkeypatch.setattr(workflow_module, "trim_memory_soon", lambda: trims.append(1))
    handle = await small_limits.start(
        workflow("  - grow:\n      set:\n        blob: '${ \"x\" * 500000 }'\n")
    )
    error = await failure_of(handle)
    assert error["title"] == "Payload too large"
    assert trims, "no memory trim was scheduled for the run that held the refused output"


async def test_an_activity_request_over_the_payload_limit_fails_before_it_is_scheduled(
    small_limits: Harness, tmp_path: Path
) -> None:
    handle = await small_limits.start(
        workflow(
            "  - grow:\n      set:\n        blob: '${ \"x\" * 500000 }'\n"
            "  - send:\n      run:\n        shell:\n          command: cat\n"
            "          stdin: ${ .blob }\n"
        )
    )
    error = await failure_of(handle)
    assert "the request of run_process is over CLAIMCHECK_MAX_PAYLOAD_BYTES" in error["detail"]
    assert error["instance"] == "/do/1/send"
    counts = await event_counts(handle)
    assert counts["activity_task_scheduled"] == 0 and counts["workflow_task_failed"] == 0


async def test_an_activity_result_over_the_payload_limit_fails_once_without_retries(
    small_limits: Harness, tmp_path: Path
) -> None:
    """Before: a retryable PayloadTooLargeError, so the command ran 3 times."""
    runs = tmp_path / "runs.log"
    handle = await small_limits.start(
        workflow(
            "  - produce:\n      run:\n        shell:\n"
            f"          command: echo run >> {runs}; printf '%0500000d' 0\n"
        )
    )
    error = await failure_of(handle)
    assert runs.read_text().count("run") == 1
    assert error["title"] == "Payload too large"
    assert "the result of run_process of task /do/0/produce" in error["detail"]
    assert "CLAIMCHECK_MAX_PAYLOAD_BYTES (400000 bytes)" in error["detail"]
    assert error["instance"] == "/do/0/produce"
