"""Determinism: real DSL histories replay without a nondeterminism error.

The interpreter runs passed through the sandbox (for speed, see
engine/worker.py), so replaying recorded histories is how its determinism is
checked: expressions, fork, loops, timers, signals, activities and big
payloads (offloaded, and jq in a local activity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.harness import Harness, reached, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.engine.worker import PASSTHROUGH_MODULES
from workflow_runner.engine.workflow import DslWorkflow
from workflow_runner.engine.workflow_expressions import WHOLE_DEFINITION_PATCH, Expressions


async def test_complex_run_replays(harness: Harness, http_server: LocalHTTPServer) -> None:
    text = workflow(
        f"""
  - fetch:
      call: http
      with:
        method: get
        endpoint: {http_server.url}/big?size=600000
  - count:
      set:
        n: ${{ .products | length }}
        at: ${{ now }}
  - parallel:
      fork:
        branches:
          - pause:
              wait: PT0.1S
          - loop:
              for:
                in: ${{ [range(5)] }}
              do:
                - acc:
                    set:
                      total: ${{ (.total // 0) + $item }}
  - guarded:
      try:
        - boom:
            raise:
              error:
                type: https://example.com/e
                status: 418
      catch:
        as: e
        do:
          - caught:
              set:
                status: ${{ $e.status }}
  - hear:
      listen:
        to:
          one:
            with:
              type: signal
              id: go
"""
    )
    handle = await harness.start(text)
    await reached(handle, "/do/4/hear")
    await handle.signal("go", {"done": True})
    assert await handle.result() == {"done": True}
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=[DslWorkflow],
        data_converter=harness.client.data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


# -- $workflow.definition: the whole definition, old histories as they ran ---------------

# More than BYTES_PER_UNIT (4 KiB) of definition: measured with $workflow, the whole
# definition costs the Pacer more units per expression than the header did, so in a loop
# long enough to yield, the yields fall elsewhere.
NAMES_WORKFLOW = workflow(
    """  - loop:
      for: {each: i, in: '${ [range(2500)] }'}
      do:
        - read:
            set: {n: '${ [$workflow.definition.document.name, $i] | length }'}
  - who:
      set:
        name: ${ [$workflow.definition.document.name] | first }
        tasks: ${ [$workflow.definition.do | length] | first }
  - padding: {set: {p: '"""
    + "x" * 6000
    + """'}, if: '${ false }'}
"""
)


def _replayer(harness: Harness) -> Replayer:
    return Replayer(
        workflows=[DslWorkflow],
        data_converter=harness.client.data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    )


def _patch_markers(history: WorkflowHistory) -> list[str]:
    """The WHOLE_DEFINITION_PATCH markers of ``history`` (not the yields' own patch)."""
    return [
        str(e.marker_recorded_event_attributes.details)
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and WHOLE_DEFINITION_PATCH in str(e.marker_recorded_event_attributes.details)
    ]


async def test_workflow_definition_is_the_whole_definition_and_the_run_replays(
    harness: Harness,
) -> None:
    """The spec's raise-inline.yaml reads $workflow.definition.document.name; it read null."""
    handle = await harness.start(NAMES_WORKFLOW)
    assert await handle.result() == {"name": "t", "tasks": 3}
    history = await handle.fetch_history()
    assert len(_patch_markers(history)) == 1
    await _replayer(harness).replay_workflow(history)


async def test_a_run_recorded_with_the_header_replays_with_the_header(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history from before the change (no patch marker) must replay where it yielded:
    its expressions are measured with the header, as they were."""

    def as_before(self: Expressions, args: Mapping[str, Any]) -> Mapping[str, Any]:
        # what the code before the change measured and read: the header, and no marker
        workflow_info = {**args["workflow"], "definition": self.header_definition}
        return {**args, "workflow": workflow_info}

    with monkeypatch.context() as before:
        before.setattr(Expressions, "_as_recorded", as_before)
        handle = await harness.start(NAMES_WORKFLOW)
        assert await handle.result() == {"name": None, "tasks": 0}
        history = await handle.fetch_history()
    assert _patch_markers(history) == []
    await _replayer(harness).replay_workflow(history)  # a yield moved: nondeterminism


async def test_only_a_run_that_could_see_the_difference_records_a_marker(
    harness: Harness,
) -> None:
    """$workflow.input.x is answered without measuring $workflow: no marker (the benchmark's
    workflows read their URL so); reading the definition, even by a plain path, asks."""
    plain = workflow("  - a: {set: {x: '${ $workflow.input.x }', y: '${ [1] }'}}\n")
    handle = await harness.start(plain, {"x": 1})
    assert await handle.result() == {"x": 1, "y": [1]}
    assert _patch_markers(await handle.fetch_history()) == []
    reads = workflow("  - a: {set: {name: '${ $workflow.definition.document.name }'}}\n")
    handle = await harness.start(reads)
    assert await handle.result() == {"name": "t"}
    assert len(_patch_markers(await handle.fetch_history())) == 1
