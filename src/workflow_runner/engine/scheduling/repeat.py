"""``schedule.after``: run the definition, wait ``after`` once it ended, run it again.

A Temporal Schedule fires at times that do not depend on when the previous
run ended, so ``after`` ("when this workflow completes, it should run again
after the specified amount of time") is this small loop workflow instead
(type ``workflow-runner-after``, id = the schedule id, engine/scheduling/schedules.py):

1. start the definition **by its workflow type** as a child (``ABANDON``:
   deleting the schedule terminates the loop, never a run in flight, as
   deleting a Temporal Schedule does), and wait for it to end — completed or
   faulted alike: a failed run does not stop the schedule (nor does it in a
   Temporal Schedule);
2. sleep ``after``;
3. continue-as-new, so the loop's history stays a dozen events however long
   it runs.

The first run starts as soon as the loop does. ``workflow-runner schedule
FILE`` and ``worker --definitions`` create it with signal-with-start of the
``configure`` signal: a running loop takes the new configuration (delay,
input) from its next iteration, and re-applying the same file changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

AFTER_TYPE = "workflow-runner-after"
CONFIGURE_SIGNAL = "configure"


def loop_config(
    workflow_type: str, after: timedelta, args: list[Any], definition: str
) -> dict[str, Any]:
    """What the loop runs: JSON, in its input and in the ``configure`` signal."""
    return {
        "workflowType": workflow_type,
        "afterSeconds": after.total_seconds(),
        "args": args,
        "definition": definition,
    }


@workflow.defn(name=AFTER_TYPE)
class AfterLoop:
    """One iteration per run of the chain (see the module docstring)."""

    def __init__(self) -> None:
        self.config: dict[str, Any] | None = None

    @workflow.signal(name=CONFIGURE_SIGNAL)
    def configure(self, config: dict[str, Any]) -> None:
        if self.config is not None and config != self.config:
            workflow.upsert_memo(loop_memo(config))
        self.config = config

    @workflow.query(name="config")
    def current(self) -> dict[str, Any] | None:
        return self.config

    @workflow.run
    async def run(self, config: dict[str, Any], runs: int = 0) -> None:
        if self.config is None:
            self.config = config
        elif self.config != config:  # reconfigured before this run began
            workflow.upsert_memo(loop_memo(self.config))
        current = self.config
        number = runs + 1
        child_id = f"{current['workflowType']}-after-{number}-{workflow.uuid4().hex[:8]}"
        try:
            await workflow.execute_child_workflow(
                current["workflowType"],
                args=current["args"],
                id=child_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except ChildWorkflowError as error:
            workflow.logger.warning(
                "schedule.after: run %s of %s ended in failure (%s); the next one starts "
                "after the delay all the same",
                child_id,
                current["workflowType"],
                error.cause or error,
            )
        await workflow.sleep(timedelta(seconds=float(self.config["afterSeconds"])))
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(args=[self.config, number])


def loop_memo(config: dict[str, Any]) -> dict[str, Any]:
    """The loop's memo: what ``schedule --list`` shows without asking a worker."""
    return {"workflow-runner-definition": config["definition"], AFTER_TYPE: config}
