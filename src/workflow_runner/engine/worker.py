"""Building a worker that can run any DSL workflow: the workflow type plus the I/O activities."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflow_runner.config import Settings
from workflow_runner.engine.activities.expressions import evaluate_expression
from workflow_runner.engine.activities.http import HttpActivities
from workflow_runner.engine.activities.process import ProcessActivities
from workflow_runner.engine.workflow import DslWorkflow

# jq is a C extension the sandbox cannot re-import. Our own package is passed
# through too: re-importing the interpreter into a fresh sandbox for every run
# cut throughput to a fifth (bench/interpreter_overhead.py: 4.7 vs 19+ runs/s),
# and it keeps the compiled-jq cache across runs. Determinism of the
# interpreter is kept by construction (workflow.now/time/uuid4 only, jq's
# clock and environment rebound) and checked by replaying real histories
# (tests/engine/test_replay.py).
PASSTHROUGH_MODULES = ("jq", "yaml", "workflow_runner")


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, *, task_queue: str | None = None, **options: object
) -> AsyncIterator[Worker]:
    """A started worker for ``task_queue``; shut down (activities drained) on exit."""
    http = HttpActivities(dict(settings.secrets))
    processes = ProcessActivities(dict(settings.secrets))
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
    worker = Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[DslWorkflow],
        activities=[http.call_http, processes.run_process, evaluate_expression],
        workflow_runner=runner,
        **options,  # type: ignore[arg-type]
    )
    try:
        async with worker:
            yield worker
    finally:
        await http.close()
