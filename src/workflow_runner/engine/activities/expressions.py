"""jq on big inputs, as a local activity, off the workflow thread.

jq parses its input as JSON text: about 0.35 s for 5 MB here. Workflow code
must yield within 2 s (Temporal's deadlock detector) and blocks the worker
while it runs, so an evaluation whose input is large runs here, in a thread
that waits on a jq evaluator process (dsl/jq_pool.py) with the full budget:
EXPRESSION_TIMEOUT_SECONDS and EXPRESSION_MAX_MEMORY_MB, sent by the workflow.
Its result is recorded in history as a local-activity marker (offloaded by
the claim check when large), so replays do not evaluate again.
"""

from __future__ import annotations

import asyncio
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


@dataclass
class ExpressionRequest:
    body: str
    data: Any
    args: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0
    where: str = ""
    seconds: float = DEFAULT_BUDGET.seconds
    memory_mb: int = DEFAULT_BUDGET.memory_mb


@activity.defn(name="evaluate_expression")
async def evaluate_expression(request: ExpressionRequest) -> Any:
    budget = Budget(seconds=request.seconds, memory_mb=request.memory_mb)
    try:
        return await asyncio.to_thread(
            evaluate,
            request.body,
            request.data,
            request.args,
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
