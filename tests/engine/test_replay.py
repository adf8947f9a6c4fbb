"""Determinism: real DSL histories replay without a nondeterminism error.

The interpreter runs passed through the sandbox (for speed, see
engine/worker.py), so replaying recorded histories is how its determinism is
checked: expressions, fork, loops, timers, signals, activities and big
payloads (offloaded, and jq in a local activity).
"""

from __future__ import annotations

from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.harness import Harness, reached, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.engine.worker import PASSTHROUGH_MODULES
from workflow_runner.engine.workflow import DslWorkflow


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
