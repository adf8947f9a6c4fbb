"""Temporal failures ↔ DSL errors, on the workflow side.

Activities and child workflows carry a ``WorkflowError`` dict in their
failure details; anything else (timeouts, cancellations of I/O, SDK errors)
is mapped to the closest standard error type so ``catch`` can still match it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    TimeoutError,
)

from workflow_runner.dsl.errors import WorkflowError


def to_workflow_error(err: BaseException, instance: str) -> WorkflowError:
    if isinstance(err, WorkflowError):
        if err.instance is None:
            err.instance = instance
        return err
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        details = _first_detail(cause)
        if isinstance(details, dict) and "type" in details and "status" in details:
            error = WorkflowError.from_dict(details)
            error.instance = error.instance or instance
            return error
        return WorkflowError.of("runtime", cause.message or str(cause), instance=instance)
    if isinstance(cause, TimeoutError):
        return WorkflowError.of(
            "timeout", f"timed out: {cause}", title="Task timed out", instance=instance
        )
    if isinstance(cause, FailureError):
        return WorkflowError.of("runtime", str(cause), instance=instance)
    return WorkflowError.of("runtime", f"{type(err).__name__}: {err}", instance=instance)


def _first_detail(error: ApplicationError) -> Any:
    try:
        return error.details[0] if error.details else None
    except Exception:  # undecodable details: fall back to the message
        return None


def to_application_error(error: WorkflowError) -> ApplicationError:
    """How a DSL error ends a workflow: non-retryable, with the spec error as details."""
    return ApplicationError(str(error), error.to_dict(), type=error.type, non_retryable=True)


async def as_dsl_errors(call: Awaitable[Any], pointer: str) -> Any:
    """Failures of activities and child workflows become DSL errors a ``catch`` can match."""
    try:
        return await call
    except asyncio.CancelledError:
        raise
    except Exception as err:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Cancelled from outside (a task's timeout, via wait_for): the activity's
            # "Cancelled" is not the task's error; wait_for raises the timeout error.
            raise asyncio.CancelledError from None
        raise to_workflow_error(err, pointer) from None
