"""Building a worker that can run any DSL workflow: the workflow type plus the I/O activities.

A worker also registers its run limits for its task queue (engine/limits.py),
checks activity results against CLAIMCHECK_MAX_PAYLOAD_BYTES
(engine/interceptors.py) and holds a reference on the jq evaluator processes
(dsl/jq_pool.py): the last worker of the process to stop kills them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflow_runner.config import Settings
from workflow_runner.dsl.jq_pool import POOL
from workflow_runner.engine.activities.expressions import evaluate_expression
from workflow_runner.engine.activities.secret_nonce import secret_nonce
from workflow_runner.engine.definition import Definition
from workflow_runner.engine.interceptors import PayloadLimitInterceptor
from workflow_runner.engine.limits import RunLimits
from workflow_runner.engine.registry import QueueConfig, by_queue, register, serve, unregister
from workflow_runner.engine.scheduling.repeat import AfterLoop
from workflow_runner.engine.scheduling.triggers import EventRouter, start_triggered_run
from workflow_runner.engine.tasks import ACTIVITIES
from workflow_runner.engine.tasks.base import ActivitySet
from workflow_runner.engine.visibility import check_registered
from workflow_runner.engine.workflow import DslWorkflow

# jq is a C extension the sandbox cannot re-import. Our own package is passed
# through too: re-importing the interpreter into a fresh sandbox for every run
# cut throughput to a fifth (bench/interpreter_overhead.py: 4.7 vs 19+ runs/s),
# and it keeps the compiled-jq cache across runs. Determinism of the
# interpreter is kept by construction (workflow.now/time/uuid4 only, jq's
# clock and environment rebound) and checked by replaying real histories
# (tests/engine/test_replay.py). jsonschema (and its ``referencing``) validate
# input/output schemas in workflow code, imported lazily by dsl/schemas.py: a pure
# function of schema and value, but its import touches ``platform``, which the
# sandbox forbids.
PASSTHROUGH_MODULES = ("jq", "yaml", "workflow_runner", "jsonschema", "referencing")


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    definitions: Sequence[Definition] = (),
    activities: Sequence[ActivitySet] | None = None,
    **options: object,
) -> AsyncIterator[Worker]:
    """A started worker for ``task_queue``; shut down (activities drained) on exit.

    ``definitions`` are served as workflow types of their own (``document.name``),
    so any Temporal client starts them by name; every worker also runs ad hoc
    requests (``DslWorkflow``) that carry their definition.

    Activities come from the task registry (``engine/tasks``): each I/O task type
    builds its own from the settings, unless ``activities`` (built and closed by
    the caller, :func:`running_workers`) are shared with other workers.
    """
    owned = activities is None
    task_activities = list(activities or ()) if not owned else [b(settings) for b in ACTIVITIES]
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
    queue = task_queue or settings.task_queue
    interceptors = [
        PayloadLimitInterceptor(settings.max_payload_bytes),
        *options.pop("interceptors", ()),  # type: ignore[misc]
    ]
    worker = Worker(
        client,
        task_queue=queue,
        # schedule.on's event router and schedule.after's loop (engine/scheduling/schedules.py)
        workflows=[DslWorkflow, EventRouter, AfterLoop],
        activities=[
            *(fn for group in task_activities for fn in group.functions),
            evaluate_expression,
            secret_nonce,
            start_triggered_run,
        ],
        workflow_runner=runner,
        interceptors=interceptors,
        **options,  # type: ignore[arg-type]
    )
    config = QueueConfig(
        RunLimits.from_settings(settings),
        serve(definitions),
        continue_as_new_events=settings.continue_as_new_events,
    )
    # An unregistered search attribute would make every such run hang: refuse to serve it.
    await check_registered(
        client,
        [
            data
            for served in config.definitions.values()
            for data in (served.data, *served.children.values())
        ],
    )
    register(queue, config)
    POOL.attach()
    attached = True
    try:
        async with worker:
            try:
                yield worker
            finally:
                # Before the worker drains: a local activity waiting on jq must not
                # hold the shutdown (or Ctrl-C) for its whole budget.
                POOL.detach()
                attached = False
    finally:
        if attached:
            POOL.detach()
        unregister(queue, config)
        if owned:
            await _close(task_activities)


async def _close(groups: Sequence[ActivitySet]) -> None:
    for group in groups:
        if group.close is not None:
            await group.close()


@contextlib.asynccontextmanager
async def running_workers(
    client: Client,
    settings: Settings,
    *,
    definitions: Sequence[Definition] = (),
    queues: Sequence[str] = (),
) -> AsyncIterator[dict[str, Worker]]:
    """One worker per task queue, by queue: TEMPORAL_TASK_QUEUE, each Zigflow document's
    ``document.taskQueue`` (a Zigflow worker polls the queue its document names) and
    ``queues``. They share the client and one set of activities (one HTTP session,
    one jq pool), so a process serving ten queues costs ten pollers, not ten runtimes;
    a workflow type may be served on several queues, one definition on each.
    """
    grouped = by_queue(definitions, settings.task_queue)
    for queue in queues:
        grouped.setdefault(queue, [])
    shared = [build(settings) for build in ACTIVITIES]
    try:
        async with contextlib.AsyncExitStack() as stack:
            workers = {
                queue: await stack.enter_async_context(
                    running_worker(
                        client, settings, task_queue=queue, definitions=served, activities=shared
                    )
                )
                for queue, served in grouped.items()
            }
            yield workers
    finally:
        await _close(shared)
