"""``raise``: fail with a spec error (inline, or named in ``use.errors``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType


@dataclass(frozen=True, kw_only=True)
class RaiseTask(Task):
    error: Mapping[str, Any]  # resolved from use.errors when named; may hold ${ }

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        evaluated = await run.eval_value(
            dict(self.error), value, args, self.pointer + "/raise/error"
        )
        raised = WorkflowError.from_dict(evaluated)
        raised.instance = evaluated.get("instance", self.pointer)
        raise raised


def read(reader: DefinitionReader, node: TaskNode) -> RaiseTask | None:
    spec = node.raw["raise"]
    base = node.at("raise")
    error = spec.get("error") if isinstance(spec, dict) else None
    if error is None:
        reader.problem(base, "raise needs 'error': an error definition or a use.errors name")
        return None
    if isinstance(error, str):
        if error not in reader.errors:
            reader.problem(f"{base}/error", f"error {error!r} is not defined in use.errors")
            return None
        return RaiseTask(**node.common, error=reader.errors[error])
    if not reader.error_definition(f"{base}/error", error):
        return None
    return RaiseTask(**node.common, error=error)


TYPE: TaskType = TaskType("raise", frozenset({"raise"}), read)
