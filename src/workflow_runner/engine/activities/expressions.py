"""jq on big inputs, as a local activity, off the workflow thread — by reference.

jq parses its input as JSON text: about 0.4 s for 5 MB here. Workflow code
must yield within 2 s (Temporal's deadlock detector) and blocks the worker
while it runs, so an evaluation whose input is large runs here, in a thread
that waits on a jq evaluator process (dsl/jq_pool.py) with the full budget:
EXPRESSION_TIMEOUT_SECONDS and EXPRESSION_MAX_MEMORY_MB, sent by the workflow.

The document itself is not the activity's input. A local activity always
runs in the worker process that runs its workflow, so the workflow puts the
input on :data:`SHELF` (a weak map, token → the values) and sends only the
token: the document is not JSON-encoded, compressed and stored as a second
blob (before, a 5 MB document cost a second ~3 MB blob per expression and
the encoding was ~30% of the run's CPU). The entry lives as long as the
workflow instance holds it (until the evaluation returns, or the instance is
evicted). The result is recorded in history as the local-activity marker
(offloaded by the claim check when large), so replays do not evaluate again
and never need the shelf.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import DEFAULT_BUDGET, Budget, evaluate
from workflow_runner.dsl.jq_pool import EvaluatorStopped
from workflow_runner.engine.activities.errors import activity_failure

# A local activity whose retry waits longer than the SDK's local retry threshold
# (1 minute) is retried through a workflow timer: the workflow task completes,
# the stopping worker can finish, and the next worker evaluates again.
RETRY_AFTER_STOP = timedelta(seconds=61)


class Shelved:
    """An expression's input, held by its workflow instance while the evaluation runs."""

    __slots__ = ("__weakref__", "args", "data")

    def __init__(self, data: Any, args: dict[str, Any]) -> None:
        self.data = data
        self.args = args


# token → input. Weak: the workflow instance owns the entry, so an evicted
# instance (whose evaluation will never be awaited) cannot leak a document here.
SHELF: weakref.WeakValueDictionary[str, Shelved] = weakref.WeakValueDictionary()


@dataclass
class ExpressionRequest:
    body: str
    data: Any = None
    args: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0
    where: str = ""
    seconds: float = DEFAULT_BUDGET.seconds
    memory_mb: int = DEFAULT_BUDGET.memory_mb
    # A SHELF token: ``data`` and ``args`` are there (the workflow runs in this process).
    reference: str = ""


@activity.defn(name="evaluate_expression")
async def evaluate_expression(request: ExpressionRequest) -> Any:
    budget = Budget(seconds=request.seconds, memory_mb=request.memory_mb)
    data, args = request.data, request.args
    if request.reference:
        shelved = SHELF.get(request.reference)
        if shelved is None:
            # Only when the workflow is not in this process's sandbox as ours (a
            # worker that does not pass workflow_runner through), or it was evicted.
            raise ApplicationError(
                f"the input of the expression at {request.where} is not held by this worker "
                f"(reference {request.reference}); workers must pass the workflow_runner "
                "package through the sandbox (engine/worker.py PASSTHROUGH_MODULES)",
                type="ExpressionInputMissing",
                non_retryable=True,
            )
        data, args = shelved.data, shelved.args
        del shelved  # the workflow's reference alone decides how long it lives
    try:
        return await asyncio.to_thread(
            evaluate,
            request.body,
            data,
            args,
            now=request.now,
            where=request.where,
            budget=budget,
            interruptible=True,
        )
    except WorkflowError as error:
        raise activity_failure(error, retryable=False) from None
    except EvaluatorStopped as stopped:
        # The worker is stopping (its evaluator was killed so that shutdown, or
        # Ctrl-C, need not wait for the whole budget): not the expression's fault.
        raise ApplicationError(
            str(stopped), type="EvaluatorStopped", next_retry_delay=RETRY_AFTER_STOP
        ) from None
