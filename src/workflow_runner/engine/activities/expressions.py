"""jq on big inputs, as a local activity, off the workflow thread.

jq parses its input as JSON text: about 0.35 s for 5 MB here. Workflow code
must yield within 2 s (Temporal's deadlock detector) and blocks the worker
while it runs, so an evaluation whose input is large runs here, in a thread.
Its result is recorded in history as a local-activity marker (offloaded by
the claim check when large), so replays do not evaluate again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import evaluate
from workflow_runner.engine.activities.errors import activity_failure


@dataclass
class ExpressionRequest:
    body: str
    data: Any
    args: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0
    where: str = ""


@activity.defn(name="evaluate_expression")
async def evaluate_expression(request: ExpressionRequest) -> Any:
    try:
        return await asyncio.to_thread(
            evaluate, request.body, request.data, request.args, now=request.now, where=request.where
        )
    except WorkflowError as error:
        raise activity_failure(error, retryable=False) from None
