"""``do``: a nested list of tasks, run in order with its own ``then`` targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.model import Bindings, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType, scope_of


@dataclass(frozen=True, kw_only=True)
class DoTask(Task):
    tasks: TaskList

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        run.save_point(self.pointer, dict)  # resumable after a continue-as-new (no own state)
        return await run.run_list(self.tasks, value, scope_of(args))


def read(reader: DefinitionReader, node: TaskNode) -> DoTask | None:
    tasks = reader.do_list(node.at("do"), node.raw["do"], node.scope)
    return DoTask(**node.common, tasks=tasks) if tasks is not None else None


TYPE: TaskType = TaskType("do", frozenset({"do"}), read)
