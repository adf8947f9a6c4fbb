"""Activities report DSL errors as ``ApplicationError`` with the error dict in details.

The workflow side turns them back into ``WorkflowError`` (see
``engine.failures``), so a ``catch`` can match type and status across the
activity boundary.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError


def activity_failure(error: WorkflowError, *, retryable: bool) -> ApplicationError:
    return ApplicationError(
        str(error), error.to_dict(), type=error.type, non_retryable=not retryable
    )
