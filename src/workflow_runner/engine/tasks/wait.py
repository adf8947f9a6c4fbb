"""``wait``: a durable timer (``workflow.sleep``), so a wait survives worker restarts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType


@dataclass(frozen=True, kw_only=True)
class WaitTask(Task):
    delay: timedelta | None  # None: ``expression`` gives it at run time
    expression: Any = None

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        delay = self.delay
        if delay is None:
            where = self.pointer + "/wait"
            evaluated = await run.eval_value(self.expression, value, args, where)
            try:
                delay = parse_duration(evaluated)
            except ValueError as e:
                raise WorkflowError.of("expression", str(e), instance=where) from None
        await run.io.sleep(delay)
        return value, None


def read(reader: DefinitionReader, node: TaskNode) -> WaitTask | None:
    spec = node.raw["wait"]
    delay = reader.duration(node.at("wait"), spec)
    return WaitTask(**node.common, delay=delay, expression=spec if delay is None else None)


TYPE: TaskType = TaskType("wait", frozenset({"wait"}), read)
