"""Activities report DSL errors as ``ApplicationError`` with the error dict in details.

The workflow side turns them back into ``WorkflowError`` (see
``engine.failures``), so a ``catch`` can match type and status across the
activity boundary. Every I/O activity reports through :func:`dsl_failures`,
so "which errors are retried" and "what leaves the worker" are decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.secrets import MissingSecretError


def activity_failure(error: WorkflowError, *, retryable: bool) -> ApplicationError:
    return ApplicationError(
        str(error), error.to_dict(), type=error.type, non_retryable=not retryable
    )


class ActivityProblem(Exception):
    """A DSL error an activity has decided on, and whether a retry could help."""

    def __init__(self, error: WorkflowError, *, retryable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable


@contextmanager
def dsl_failures(
    instance: str, otherwise: Callable[[Exception], ApplicationError] | None = None
) -> Iterator[None]:
    """Raise what the block fails with as the activity's ``ApplicationError``.

    An :class:`ActivityProblem` keeps its error and retry decision; a secret the
    worker lacks is a non-retryable configuration error; any other exception is
    turned into ``otherwise(e)`` when given (callers redact there: an exception
    may quote a revealed secret) or propagates unchanged.
    """
    try:
        yield
    except ApplicationError:
        raise
    except ActivityProblem as e:
        raise activity_failure(e.error, retryable=e.retryable) from None
    except MissingSecretError as e:
        error = WorkflowError.of("configuration", str(e), title="Secret not set", instance=instance)
        raise activity_failure(error, retryable=False) from None
    except Exception as e:
        if otherwise is None:
            raise
        raise otherwise(e) from None
