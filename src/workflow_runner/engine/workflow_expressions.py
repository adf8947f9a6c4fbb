"""The workflow's side of expressions: where each one runs, and the Pacer's yields.

An expression over a small input is evaluated in the workflow (``evaluate_now``,
synchronous, so that a loop's expressions are not each a coroutine); one over a big
input in a local activity that gets the input by reference (``evaluate_later``). Both
count the input's size into the :class:`~workflow_runner.engine.limits.Pacer`, which
makes the run yield to Temporal every ``WORK_PER_YIELD`` units, decided by counting so
that replays yield at the same points. Kept out of ``workflow.py`` (the Temporal entry
point and the rest of ``WorkflowIO``): this is the per-expression hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflow_runner.dsl.expressions import (
        BOUNDED_INPUT_BYTES,
        NOT_ANSWERED,
        evaluate,
        fast_path,
        fast_path_reaches,
        measure_pair,
        subset_answer,
        uses_clock,
    )
    from workflow_runner.engine.activities.expressions import SHELF, Shelved
    from workflow_runner.engine.failures import as_dsl_errors
    from workflow_runner.engine.interpreter import Interpreter
    from workflow_runner.engine.limits import BYTES_PER_UNIT, DEFAULT_LIMITS, Pacer
    from workflow_runner.engine.temporal_options import IO_RETRY

# Above this much JSON, jq runs in a local activity rather than in workflow code.
INLINE_EXPRESSION_BYTES = 256 * 1024
# The local activity's own timeout is the expression budget plus this much for
# moving its input and output (the budget itself is enforced by the jq pool).
EXPRESSION_TRANSFER_MARGIN = timedelta(seconds=30)
YIELD_PATCH = "yield-between-batches"
# $workflow.definition is the whole definition (the spec's examples read
# $workflow.definition.document.name); it was the document header alone. An expression's
# arguments are measured and the Pacer's yields follow their size, so runs recorded
# before the change keep the header and replay as they ran (see _as_recorded).
WHOLE_DEFINITION_PATCH = "workflow-definition-whole"


class Expressions:
    """One run's expressions: ``DslWorkflow`` hands their ``WorkflowIO`` methods to the
    interpreter as they are (bound methods of this object: no call in between)."""

    def __init__(self) -> None:
        self.limits = DEFAULT_LIMITS  # the task queue's, once the run knows it
        self.pacer = Pacer()
        self.interpreter: Interpreter | None = None  # whose $workflow is passed
        self._shelved: dict[str, Shelved] = {}  # inputs of running local evaluations
        self._shelf_seq = 0
        # WHOLE_DEFINITION_PATCH: None until an expression could see the difference
        self.whole_definition: bool | None = None
        self.header_definition: dict[str, Any] = {}  # $workflow.definition before it

    def evaluate_now(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        """Small inputs inline; big ones ``NOT_ANSWERED``, for :meth:`evaluate_later`.

        Inline, jq's subset in Python answers most (dsl/jq_subset.py); the rest runs in
        a killable evaluator process (dsl/jq_pool.py) whose time budget is capped below
        Temporal's deadlock detector (``Budget.inline``), or in-process when bounded.
        """
        value = fast_path(body, data, args)
        if value is not NOT_ANSWERED:
            if self.whole_definition is not True and fast_path_reaches(
                body, "workflow", "definition"
            ):
                value = fast_path(body, data, self._as_recorded(args))
            return value
        if "workflow" in args and self.whole_definition is not True:
            args = self._as_recorded(args)  # (measured: its size counts)
        size, plain = measure_pair(data, args, INLINE_EXPRESSION_BYTES)
        self.pacer.add(1 + size // BYTES_PER_UNIT)
        if size > INLINE_EXPRESSION_BYTES:
            return NOT_ANSWERED
        if plain:
            value = subset_answer(body, data, args)
            if value is not NOT_ANSWERED:
                return value
        return evaluate(
            body,
            data,
            args,
            now=workflow.time() if uses_clock(body) else 0.0,
            where=where,
            budget=self.limits.expression.inline(),
            in_process=size <= BOUNDED_INPUT_BYTES,
            selected=True,
            plain=False,  # (the subset had its chance above)
        )

    def _as_recorded(self, args: Mapping[str, Any]) -> Mapping[str, Any]:
        """``args`` with ``$workflow`` as this run's history has it: a run recorded before
        ``$workflow.definition`` was the whole definition sees the header, so that what is
        measured, and the yields counted from it, replay as they ran. The patch is asked at
        the first expression that could see the difference (measured with ``$workflow``, or
        reading its definition): runs that have none carry no marker in their history."""
        interpreter = self.interpreter
        if interpreter is None or args.get("workflow") is not interpreter.workflow_info:
            return args  # (a loop variable named workflow)
        if self.whole_definition is None:
            self.whole_definition = workflow.patched(WHOLE_DEFINITION_PATCH)
        if self.whole_definition:
            return args
        return {
            **args,
            "workflow": {**interpreter.workflow_info, "definition": self.header_definition},
        }

    async def evaluate_later(
        self, body: str, data: Any, args: Mapping[str, Any], where: str
    ) -> Any:
        """A big input's expression, in a local activity (see activities/expressions.py)
        with EXPRESSION_TIMEOUT_SECONDS; the activity gets the input by reference: it runs
        in this process, so the document is not encoded, compressed and stored again."""
        budget = self.limits.expression
        self._shelf_seq += 1
        token = f"{workflow.info().run_id}/{self._shelf_seq}"
        self._shelved[token] = shelved = Shelved(data, dict(args))
        SHELF[token] = shelved
        del shelved
        request = {
            "body": body,
            "reference": token,
            "now": workflow.time(),
            "where": where,
            "seconds": budget.seconds,
            "memory_mb": budget.memory_mb,
        }
        try:
            return await as_dsl_errors(
                workflow.execute_local_activity(
                    "evaluate_expression",
                    request,
                    start_to_close_timeout=timedelta(seconds=budget.seconds)
                    + EXPRESSION_TRANSFER_MARGIN,
                    retry_policy=IO_RETRY,
                    summary=where,
                ),
                where,
            )
        finally:
            self._shelved.pop(token, None)

    async def yield_to_temporal(self, pointer: str) -> None:
        """Histories recorded before the yields existed have none: ``workflow.patched``
        keeps them replaying."""
        if workflow.patched(YIELD_PATCH):
            await workflow.execute_local_activity(
                "evaluate_expression",
                {"body": ".", "data": None, "where": pointer},
                start_to_close_timeout=EXPRESSION_TRANSFER_MARGIN,
                retry_policy=IO_RETRY,
                summary=f"yield to Temporal before {pointer}",
            )
