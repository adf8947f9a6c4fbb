"""What a run starts from: its request (the definition, sent whole or served by type), the
state a previous run of its continue-as-new chain carried, and its Temporal info under
Zigflow's names. Read once per run, as it starts (engine/workflow.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflow_runner.engine.continuation import FORMAT as CONTINUATION_FORMAT
    from workflow_runner.engine.registry import AD_HOC_TYPE, QueueConfig


@dataclass
class RunRequest:
    """Everything a run needs, resolved by the client before it starts."""

    definition: dict[str, Any]
    input: Any = None
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def run_request(
    workflow_type: str, task_queue: str, queue: QueueConfig, args: Sequence[RawValue]
) -> RunRequest:
    """The run request: sent whole for ad hoc runs, built from what the worker serves
    for a definition started by its name (the input is then the workflow input)."""
    converter = workflow.payload_converter()
    if workflow_type == AD_HOC_TYPE:
        request: RunRequest = converter.from_payload(args[0].payload, RunRequest)
        return request
    served = queue.definitions.get(workflow_type)
    if served is None:
        known = ", ".join(sorted(queue.definitions)) or "none"
        raise ApplicationError(
            f"workflow type {workflow_type!r} is not served on task queue {task_queue} "
            f"(its workers serve: {known}); start a worker with "
            "'workflow-runner worker --definitions' and the definition's file",
            type="UnknownWorkflowType",
            non_retryable=True,
        )
    run_input = converter.from_payload(args[0].payload) if args else None
    return RunRequest(served.data, run_input, served.children, served.env)


def continued_state(args: Sequence[RawValue]) -> dict[str, Any] | None:
    """The previous run's state, when this run continues a chain (its second argument)."""
    if len(args) < 2:
        return None
    state = workflow.payload_converter().from_payload(args[1].payload)
    if not isinstance(state, dict) or state.get("continuation") != CONTINUATION_FORMAT:
        return None
    return state


def zulu_seconds(moment: datetime) -> str:
    """``%Y-%m-%dT%H:%M:%SZ`` (Zigflow's layout) without ``strftime``, which in the
    sandbox imports ``time`` through the sandbox's import hook on every call."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def temporal_info(info: workflow.Info) -> dict[str, Any]:
    """The run's Temporal info under Zigflow's names (its ``$data.workflow``)."""
    timeout = info.execution_timeout
    data: dict[str, Any] = {
        "attempt": info.attempt,
        "continued_execution_run_id": info.continued_run_id or "",
        "cron_schedule": info.cron_schedule or "",
        "first_run_id": info.first_execution_run_id,
        "namespace": info.namespace,
        "task_queue_name": info.task_queue,
        "workflow_execution_id": info.workflow_id,
        "workflow_execution_run_id": info.run_id,
        "workflow_execution_timeout": timeout.total_seconds() if timeout else 0,
        "workflow_start_time": zulu_seconds(info.start_time),
        "workflow_type_name": info.workflow_type,
    }
    if info.root is not None:
        data["root_workflow_execution_id"] = info.root.workflow_id
        data["root_workflow_execution_run_id"] = info.root.run_id
    if info.parent is not None:
        data["parent_workflow_namespace"] = info.parent.namespace
        data["parent_workflow_execution_id"] = info.parent.workflow_id
        data["parent_workflow_execution_run_id"] = info.parent.run_id
    return data
